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

victims as (

    select * from {{ ref('stg_nibrs__victims') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

year_loads as (

    {{ nibrs_year_loads(years) }}

),

victim_types as (

    select * from {{ ref('nibrs_victim_types') }}

),

relationships as (

    select * from {{ ref('nibrs_relationship_codes') }}

),

final as (

    select
        ---------- keys
        victims.victim_id,
        victims.incident_id,
        victims.data_year,
        victims.ori,
        victims.agency_ori,
        victims.incident_date,
        victims.victim_sequence_number,

        ---------- the victim
        victims.victim_type_code,
        victim_types.victim_type_name,
        coalesce(victim_types.is_person, false) as is_person,
        victims.offense_codes,
        victims.age_code,
        victims.age_years,
        victims.sex_code,
        sex.code_label as sex,
        victims.race_code,
        race.code_label as race,
        victims.ethnicity_code,
        ethnicity.code_label as ethnicity,
        victims.resident_status_code,
        resident.code_label as resident_status,
        victims.injury_codes,
        cardinality(victims.injury_codes) > 0
        and victims.injury_codes <> array['N']::text[] as is_injured,
        victims.circumstance_code_1,
        circumstance_1.code_label as circumstance_1,
        victims.circumstance_code_2,
        circumstance_2.code_label as circumstance_2,
        victims.justifiable_homicide_circumstance_code,
        justifiable.code_label as justifiable_homicide_circumstance,

        ---------- the first relationship (all ten: fct_nibrs_victim_offender_relationships)
        victims.offender_number_related_1,
        victims.relationship_code_1,
        relationships.relationship_name as relationship_1,
        relationships.harmonized_group as relationship_group_1,

        ---------- law enforcement officer victims
        victims.leoka_officer_activity_code,
        activity.code_label as leoka_officer_activity,
        victims.leoka_officer_assignment_code,
        assignment.code_label as leoka_officer_assignment,
        victims.leoka_officer_other_ori,

        ---------- lineage
        year_loads.source_loaded_at

    from victims
    inner join year_loads
        on victims.data_year = year_loads.data_year
    left join victim_types
        on victims.victim_type_code = victim_types.victim_type_code
    left join relationships
        on victims.relationship_code_1 = relationships.relationship_code
    {{ nibrs_label_join('sex', 'victims.sex_code', 'sex') }}
    {{ nibrs_label_join('race', 'victims.race_code', 'race') }}
    {{ nibrs_label_join('ethnicity', 'victims.ethnicity_code', 'ethnicity') }}
    {{ nibrs_label_join('resident_status', 'victims.resident_status_code', 'resident') }}
    {{ nibrs_label_join('circumstance', 'victims.circumstance_code_1', 'circumstance_1') }}
    {{ nibrs_label_join('circumstance', 'victims.circumstance_code_2', 'circumstance_2') }}
    {{ nibrs_label_join(
        'justifiable_homicide_circumstance',
        'victims.justifiable_homicide_circumstance_code',
        'justifiable'
    ) }}
    {{ nibrs_label_join(
        'leoka_officer_activity', 'victims.leoka_officer_activity_code', 'activity'
    ) }}
    {{ nibrs_label_join(
        'leoka_officer_assignment', 'victims.leoka_officer_assignment_code', 'assignment'
    ) }}

)

select * from final
