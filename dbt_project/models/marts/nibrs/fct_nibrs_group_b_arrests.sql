{%- set years = nibrs_years_to_build() %}

with

arrests as (

    select * from {{ ref('stg_nibrs__group_b_arrests') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

final as (

    select
        ---------- keys: a Group B arrest belongs to no incident
        data_year,
        ori,
        arrest_transaction_number,
        arrestee_sequence_number::smallint as arrestee_sequence_number,
        agency_ori,

        ---------- the arrest and the arrestee, as codes
        {{ nibrs_arrestee_fact_columns() }}

    from arrests

)

select * from final
