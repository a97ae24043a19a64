#!/bin/bash
# First start of the compose PostgreSQL: the same databases, schemas and roles that
# `crimewh stack up` creates for the embedded one (crimewh.warehouse.stack).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username postgres <<SQL
create role crimewh login password '${CRIMEWH_PG_PASSWORD}';
create role analyst login password '${ANALYST_PASSWORD}';
create role airflow login password '${AIRFLOW_DB_PASSWORD}';
create database warehouse owner crimewh;
create database airflow owner airflow;
revoke all on database warehouse from public;
grant connect on database warehouse to analyst;
SQL
psql -v ON_ERROR_STOP=1 --username postgres --dbname warehouse <<'SQL'
revoke create on schema public from public;
create schema raw authorization crimewh;
create schema staging authorization crimewh;
create schema intermediate authorization crimewh;
create schema ref authorization crimewh;
create schema marts authorization crimewh;
create schema ml authorization crimewh;
create schema audit authorization crimewh;
grant usage on schema marts, ml to analyst;
alter default privileges for role crimewh in schema marts grant select on tables to analyst;
alter default privileges for role crimewh in schema ml grant select on tables to analyst;
SQL
