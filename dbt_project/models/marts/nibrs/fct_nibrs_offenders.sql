{%- set years = nibrs_years_to_build() %}

with

offenders as (

    select * from {{ ref('stg_nibrs__offenders') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

final as (

    select
        ---------- keys
        data_year,
        incident_key,
        offender_sequence_number::smallint as offender_sequence_number,

        ---------- the offender (age, sex and race are blank when unknown)
        is_unknown_offender,
        age_code,
        age_years::smallint as age_years,
        sex_code,
        race_code,
        ethnicity_code

    from offenders

)

select * from final
