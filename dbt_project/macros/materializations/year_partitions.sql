{#-
    year_partitions: a NIBRS mart kept as one PostgreSQL partition per data year, and
    rebuilt a year at a time the way the loader replaces a raw partition.

    A data year is the unit the warehouse loads, so it is the unit a mart rebuilds. The
    model's SQL selects the years to build (`nibrs_years_to_build()`: the years loaded since
    the mart last saw them, or `--vars '{nibrs_years: [2022]}'`). In one transaction the
    rows go into fresh tables, one per year (created in the transaction, so with
    `wal_level=minimal` PostgreSQL writes them without WAL), each is analyzed, and each
    replaces that year's partition: detach the old one, attach the new one. So:

      * a rebuild deletes nothing: no dead rows, no bloat, no vacuum to wait for;
      * readers see the old year until the commit, then the new one, never half of it;
      * the planner has statistics for every year before anything joins it;
      * other years are not touched, and a failure leaves the mart as it was.

    The parent carries the contract's columns and constraints (a primary key must include
    the partition column, as PostgreSQL requires) and the `indexes` config; every year's
    table gets the same key and indexes after its rows are in, so attaching it builds none. What each build did
    goes to `audit.mart_builds` (model, year, the raw load it was built from, invocation),
    which `nibrs_years_to_build()` reads back, and which scopes the marts' dbt tests to the
    years this invocation built (`where: nibrs_years_built_now`, macros/where_subquery.sql).

    `--full-refresh` drops the mart (and the views on it, which the same build recreates)
    and builds every loaded year.
-#}
{% materialization year_partitions, adapter='postgres' %}
    {%- set partition_column = config.get('partition_by', 'data_year') -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set years = nibrs_years_to_build() -%}
    {%- if years is none -%}
        {%- set years = nibrs_loaded_years() -%}
    {%- endif -%}
    {%- set scratch = this.incorporate(path={'identifier': this.identifier ~ '__building'}) -%}
    {%- set grant_config = config.get('grants') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if existing_relation is not none and should_full_refresh() -%}
        {{ drop_relation_if_exists(existing_relation) }}
        {%- set existing_relation = none -%}
    {%- endif -%}

    {%- if existing_relation is none -%}
        {% call statement('create_parent') -%}
            create table {{ target_relation }}
            {{ get_table_columns_and_constraints() }}
            partition by list ({{ partition_column }})
        {%- endcall %}
        {% do create_indexes(target_relation) %}
    {%- else -%}
        {% do year_partitions_check_columns(target_relation) %}
    {%- endif -%}

    {#- the new years' tables take their rows before they have indexes: building an index
        once, sorted, is several times cheaper than maintaining it row by row -#}
    {% call statement('scratch') -%}
        drop table if exists {{ scratch }} cascade;
        create table {{ scratch }} (like {{ target_relation }})
            partition by list ({{ partition_column }});
        {%- for year in years %}
        create table {{ year_partition(scratch, year) }} partition of {{ scratch }} (
            constraint {{ year_partition(scratch, year).identifier }}_year
                check ({{ partition_column }} = {{ year }})
        ) for values in ({{ year }});
        {%- endfor %}
    {%- endcall %}

    {% call statement('main') -%}
        {{ get_assert_columns_equivalent(sql) }}
        insert into {{ scratch }} ({{ adapter.dispatch('get_column_names', 'dbt')() }})
        {{ get_select_subquery(sql) }}
    {%- endcall %}

    {%- for year in years %}
        {%- set building = year_partition(scratch, year) -%}
        {%- set final = year_partition(target_relation, year) -%}
        {%- set retired = final.incorporate(path={'identifier': final.identifier ~ '__retired'}) -%}
        {% call statement('index_' ~ year) -%}
            alter table {{ scratch }} detach partition {{ building }};
            {{ year_partitions_primary_key(building) }}
        {%- endcall %}
        {% do create_indexes(building) %}
        {% call statement('swap_' ~ year) -%}
            analyze {{ building }};
            drop table if exists {{ retired }};
            do $swap$
            begin
                if to_regclass('{{ final }}') is not null then
                    alter table {{ target_relation }} detach partition {{ final }};
                    alter table {{ final }} rename to {{ retired.identifier }};
                end if;
            end
            $swap$;
            alter table {{ building }} rename to {{ final.identifier }};
            alter table {{ target_relation }}
                attach partition {{ final }} for values in ({{ year }});
        {%- endcall %}
    {%- endfor %}

    {% call statement('finish') -%}
        drop table {{ scratch }};
        {{ year_partitions_analyze_parent(target_relation) }};
        {{ mart_builds_record(years) }}
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do apply_grants(target_relation, grant_config, should_revoke=false) %}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}

    {#- the replaced years' files are unlinked after the commit, so readers never wait on it -#}
    {% call statement('drop_retired', auto_begin=false) -%}
        {%- for year in years %}
        drop table if exists {{ year_partition(target_relation, year).incorporate(
            path={'identifier': year_partition(target_relation, year).identifier ~ '__retired'}
        ) }};
        {%- endfor %}
        select 1
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{# The table that holds `year` of `relation`: fct_nibrs_offenses__y2022. #}
{% macro year_partition(relation, year) -%}
    {{ return(relation.incorporate(path={'identifier': relation.identifier ~ '__y' ~ year})) }}
{%- endmacro %}


{#-
    The contract's primary key on one year's table, so that attaching it to the parent
    (whose key is the same) finds the index there instead of building it again.
-#}
{% macro year_partitions_primary_key(relation) -%}
    {%- for constraint in model['constraints'] if constraint.type == 'primary_key' %}
    alter table {{ relation }} add primary key ({{ constraint.columns | join(', ') }});
    {%- endfor %}
{%- endmacro %}


{#-
    A mart whose columns no longer match its contract cannot take a new year's partition:
    say what to run instead of failing in ATTACH with PostgreSQL's message.
-#}
{% macro year_partitions_check_columns(relation) -%}
    {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
    {%- set wanted = model['columns'].values() | map(attribute='name') | list -%}
    {%- if existing != wanted -%}
        {{ exceptions.raise_compiler_error(
            relation ~ " has columns " ~ existing ~ " but the model now has " ~ wanted
            ~ ": rebuild it with `crimewh dbt build --full-refresh --select "
            ~ model.name ~ "+`"
        ) }}
    {%- endif -%}
{%- endmacro %}


{#-
    The parent's own statistics, what scans over several years are estimated with, from a
    sample of its partitions. `analyze only` (PostgreSQL 17+) leaves the partitions' own
    statistics alone, taken as each was built; older servers analyze them again.
-#}
{% macro year_partitions_analyze_parent(relation) -%}
    {%- set version = run_query("select current_setting('server_version_num')::integer") -%}
    {%- if execute and version.columns[0].values()[0] >= 170000 -%}
        analyze only {{ relation }}
    {%- else -%}
        analyze {{ relation }}
    {%- endif -%}
{%- endmacro %}


{#-
    The table of builds, created once per invocation (on-run-start in dbt_project.yml):
    models building at once on several threads would race to create it.
-#}
{% macro mart_builds_ddl() -%}
    create schema if not exists audit;
    create table if not exists {{ mart_builds_relation() }} (
        invocation_id text not null,
        model text not null,
        data_year integer not null,
        source_loaded_at timestamptz,
        built_at timestamptz not null default clock_timestamp()
    )
{%- endmacro %}


{#- What this build wrote, per year, and from which raw load (see nibrs_years_to_build). -#}
{% macro mart_builds_record(years) -%}
    {%- if years | length > 0 %}
    insert into {{ mart_builds_relation() }} (invocation_id, model, data_year, source_loaded_at)
    select
        '{{ invocation_id }}',
        '{{ this.identifier }}',
        loads.data_year,
        loads.source_loaded_at
    from ({{ nibrs_year_loads(years) }}) as loads
    {%- else %}
    select 1
    {%- endif %}
{%- endmacro %}


{% macro mart_builds_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='audit', identifier='mart_builds')) }}
{%- endmacro %}
