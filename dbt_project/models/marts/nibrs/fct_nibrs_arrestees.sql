{%- set years = nibrs_years_to_build() %}

with

arrestees as (

    select * from {{ ref('stg_nibrs__arrestees') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

final as (

    select
        ---------- keys
        data_year,
        incident_key,
        arrestee_sequence_number::smallint as arrestee_sequence_number,

        ---------- the arrest and the arrestee, as codes
        arrest_transaction_number,
        {{ nibrs_arrestee_fact_columns() }},
        (arrest_date - incident_date)::smallint as days_from_incident_to_arrest,
        multiple_arrestee_indicator,
        -- one arrest that clears several incidents has one C segment and M ones
        -- elsewhere: count C and N as arrests, skip M (reference §6)
        coalesce(multiple_arrestee_indicator, 'N') <> 'M' as is_counted_arrest

    from arrestees

)

select * from final
