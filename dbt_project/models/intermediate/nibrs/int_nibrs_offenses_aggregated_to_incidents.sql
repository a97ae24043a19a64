-- One row per incident: what its offense records (02) say, as known when it was reported.
-- Every CTE is read once, so PostgreSQL inlines them and a mart's filter on the year reaches
-- the raw table.

with

offenses as (

    select * from {{ ref('stg_nibrs__offenses') }}

),

offense_codes as (

    select * from {{ ref('nibrs_offense_codes') }}

),

weapon_codes as (

    select * from {{ ref('nibrs_weapon_force_codes') }}

),

offenses_described as (

    select
        offenses._partition,
        offenses.data_year,
        offenses.incident_id,
        offenses.offense_code,
        offenses.location_type_code,
        offense_codes.hierarchy_rank,
        offense_codes.crime_against,
        offenses.attempted_completed_code,
        offenses.bias_motivation_code,
        coalesce(weapon_1.is_weapon_or_force, false)
        or coalesce(weapon_2.is_weapon_or_force, false)
        or coalesce(weapon_3.is_weapon_or_force, false) as has_weapon,
        coalesce(weapon_1.is_firearm, false)
        or coalesce(weapon_2.is_firearm, false)
        or coalesce(weapon_3.is_firearm, false) as has_firearm,
        'A' in (
            offenses.offender_suspected_of_using_1,
            offenses.offender_suspected_of_using_2,
            offenses.offender_suspected_of_using_3
        ) as offender_used_alcohol,
        'D' in (
            offenses.offender_suspected_of_using_1,
            offenses.offender_suspected_of_using_2,
            offenses.offender_suspected_of_using_3
        ) as offender_used_drugs,
        'C' in (
            offenses.offender_suspected_of_using_1,
            offenses.offender_suspected_of_using_2,
            offenses.offender_suspected_of_using_3
        ) as offender_used_computer
    from offenses
    left join offense_codes
        on offenses.offense_code = offense_codes.offense_code
    left join weapon_codes as weapon_1
        on offenses.weapon_force_code_1 = weapon_1.weapon_force_code
    left join weapon_codes as weapon_2
        on offenses.weapon_force_code_2 = weapon_2.weapon_force_code
    left join weapon_codes as weapon_3
        on offenses.weapon_force_code_3 = weapon_3.weapon_force_code

),

aggregated as (

    select
        _partition,
        data_year,
        incident_id,
        count(*)::integer as offense_count,
        -- the primary offense: the most serious by the UCR hierarchy (seed
        -- nibrs_offense_codes.hierarchy_rank), and where it happened
        (array_agg(
            offense_code order by hierarchy_rank asc nulls last, offense_code asc
        ))[1] as primary_offense_code,
        (array_agg(
            location_type_code order by hierarchy_rank asc nulls last, offense_code asc
        ))[1] as location_type_code,
        bool_or(crime_against = 'Person') as has_crime_against_person,
        bool_or(crime_against = 'Property') as has_crime_against_property,
        bool_or(crime_against = 'Society') as has_crime_against_society,
        bool_and(attempted_completed_code = 'A') as is_attempted_only,
        bool_or(has_weapon) as has_weapon,
        bool_or(has_firearm) as has_firearm,
        coalesce(bool_or(offender_used_alcohol), false) as offender_used_alcohol,
        coalesce(bool_or(offender_used_drugs), false) as offender_used_drugs,
        coalesce(bool_or(offender_used_computer), false) as offender_used_computer,
        coalesce(bool_or(bias_motivation_code not in ('88', '99')), false) as is_bias_motivated
    from offenses_described
    group by _partition, data_year, incident_id

)

select * from aggregated
