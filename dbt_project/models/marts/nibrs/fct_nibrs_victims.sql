{%- set years = nibrs_years_to_build() %}

with

victims as (

    select * from {{ ref('stg_nibrs__victims') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

final as (

    select
        ---------- keys
        data_year,
        incident_key,
        victim_sequence_number::smallint as victim_sequence_number,

        ---------- the victim, as codes (fct_nibrs_victims_labelled decodes them)
        victim_type_code,
        -- up to ten offense codes and five injury codes, comma-separated: an array would
        -- cost 24 bytes of header per row, more than the codes themselves
        nullif(array_to_string(offense_codes, ','), '') as offense_codes,
        age_code,
        age_years::smallint as age_years,
        sex_code,
        race_code,
        ethnicity_code,
        resident_status_code,
        nullif(array_to_string(injury_codes, ','), '') as injury_codes,
        circumstance_code_1,
        circumstance_code_2,
        justifiable_homicide_circumstance_code,

        ---------- law enforcement officer victims (type L)
        leoka_officer_activity_code,
        leoka_officer_assignment_code,
        leoka_officer_other_ori

    from victims

)

select * from final
