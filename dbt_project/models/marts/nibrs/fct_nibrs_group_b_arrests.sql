{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='data_year',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['data_year', 'source_loaded_at']}],
    )
}}
{%- set years = nibrs_years_to_build() %}

with

group_b_arrests as (

    select * from {{ ref('stg_nibrs__group_b_arrests') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

year_loads as (

    {{ nibrs_year_loads(years) }}

),

final as (

    select
        ---------- keys: Group B arrests are linked to no incident
        group_b_arrests.group_b_arrest_id,
        group_b_arrests.data_year,
        group_b_arrests.ori,
        group_b_arrests.agency_ori,
        group_b_arrests.state_code,

        ---------- the arrest and the arrestee, decoded
        {{ nibrs_arrestee_columns('group_b_arrests') }},

        ---------- lineage
        year_loads.source_loaded_at

    from group_b_arrests
    inner join year_loads
        on group_b_arrests.data_year = year_loads.data_year
    {{ nibrs_arrestee_joins('group_b_arrests') }}

)

select * from final
