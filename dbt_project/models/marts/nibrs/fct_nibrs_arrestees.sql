{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='data_year',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['data_year', 'source_loaded_at']},
            {'columns': ['incident_id']},
        ],
    )
}}
{%- set years = nibrs_years_to_build() %}

with

arrestees as (

    select * from {{ ref('stg_nibrs__arrestees') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

year_loads as (

    {{ nibrs_year_loads(years) }}

),

final as (

    select
        ---------- keys
        arrestees.arrestee_id,
        arrestees.incident_id,
        arrestees.data_year,
        arrestees.ori,
        arrestees.agency_ori,
        arrestees.incident_date,

        ---------- the arrest and the arrestee, decoded
        {{ nibrs_arrestee_columns('arrestees') }},
        (arrestees.arrest_date - arrestees.incident_date) as days_from_incident_to_arrest,
        arrestees.multiple_arrestee_indicator,
        multiple.code_label as multiple_arrestee,
        -- one arrest that clears several incidents has one C segment and M ones
        -- elsewhere: count C and N as arrests, skip M (reference §6)
        coalesce(arrestees.multiple_arrestee_indicator, 'N') <> 'M' as is_counted_arrest,

        ---------- lineage
        year_loads.source_loaded_at

    from arrestees
    inner join year_loads
        on arrestees.data_year = year_loads.data_year
    {{ nibrs_arrestee_joins('arrestees') }}
    {{ nibrs_label_join(
        'multiple_arrestee_indicator', 'arrestees.multiple_arrestee_indicator', 'multiple'
    ) }}

)

select * from final
