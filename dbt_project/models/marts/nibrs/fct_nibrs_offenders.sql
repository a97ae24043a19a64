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

offenders as (

    select * from {{ ref('stg_nibrs__offenders') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

year_loads as (

    {{ nibrs_year_loads(years) }}

),

final as (

    select
        ---------- keys
        offenders.offender_id,
        offenders.incident_id,
        offenders.data_year,
        offenders.ori,
        offenders.agency_ori,
        offenders.incident_date,
        offenders.offender_sequence_number,

        ---------- the offender (age, sex and race are blank when unknown)
        offenders.is_unknown_offender,
        offenders.age_code,
        offenders.age_years,
        offenders.sex_code,
        sex.code_label as sex,
        offenders.race_code,
        race.code_label as race,
        offenders.ethnicity_code,
        ethnicity.code_label as ethnicity,

        ---------- lineage
        year_loads.source_loaded_at

    from offenders
    inner join year_loads
        on offenders.data_year = year_loads.data_year
    {{ nibrs_label_join('sex', 'offenders.sex_code', 'sex') }}
    {{ nibrs_label_join('race', 'offenders.race_code', 'race') }}
    {{ nibrs_label_join('ethnicity', 'offenders.ethnicity_code', 'ethnicity') }}

)

select * from final
