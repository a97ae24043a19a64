{#-
    The year's typed incidents are staged in a temporary table and analyzed before the
    joins: from the view, incident_key is an expression PostgreSQL has no statistics for,
    so it took every join on it to match 1 in 200 rows, estimated a year of 20 000
    incidents at 10^12 rows after six joins, and hashed it in thousands of batches (36 s,
    and minutes more as the year grew). The temporary table goes with the transaction.
-#}
{{ config(pre_hook=[
    "create temporary table nibrs_incidents_staged on commit drop as
     select * from {{ ref('stg_nibrs__incidents') }}
     where {{ nibrs_year_filter(nibrs_years_to_build(), partitioned=true) }}",
    "analyze nibrs_incidents_staged",
]) }}
-- depends_on: {{ ref('stg_nibrs__incidents') }}
{%- set years = nibrs_years_to_build() %}

with

incidents as (

    select * from nibrs_incidents_staged

),

offenses as (

    select * from {{ ref('fct_nibrs_offenses') }}
    where {{ nibrs_year_filter(years) }}

),

victims as (

    select * from {{ ref('fct_nibrs_victims') }}
    where {{ nibrs_year_filter(years) }}

),

first_relationships as (

    select * from {{ ref('fct_nibrs_victim_offender_relationships') }}
    where {{ nibrs_year_filter(years) }} and relationship_slot = 1

),

offenders as (

    select * from {{ ref('fct_nibrs_offenders') }}
    where {{ nibrs_year_filter(years) }}

),

arrestees as (

    select * from {{ ref('fct_nibrs_arrestees') }}
    where {{ nibrs_year_filter(years) }}

),

properties as (

    select * from {{ ref('fct_nibrs_properties') }}
    where {{ nibrs_year_filter(years) }}

),

offense_codes as (

    select * from {{ ref('nibrs_offense_codes') }}

),

weapon_codes as (

    select * from {{ ref('nibrs_weapon_force_codes') }}

),

victim_types as (

    select * from {{ ref('nibrs_victim_types') }}

),

clearance_codes as (

    select * from {{ ref('nibrs_clearance_codes') }}

),

---------- what each segment says about its incident, as known when it was reported

offenses_by_incident as (

    select
        offenses.data_year,
        offenses.incident_key,
        count(*)::smallint as offense_count,
        -- the primary offense: the most serious by the UCR hierarchy (seed
        -- nibrs_offense_codes.hierarchy_rank), and where it happened
        (array_agg(
            offenses.offense_code
            order by offense_codes.hierarchy_rank asc nulls last, offenses.offense_code asc
        ))[1] as primary_offense_code,
        (array_agg(
            offenses.location_type_code
            order by offense_codes.hierarchy_rank asc nulls last, offenses.offense_code asc
        ))[1] as location_type_code,
        coalesce(bool_or(offense_codes.crime_against = 'Person'), false)
            as has_crime_against_person,
        coalesce(bool_or(offense_codes.crime_against = 'Property'), false)
            as has_crime_against_property,
        coalesce(bool_or(offense_codes.crime_against = 'Society'), false)
            as has_crime_against_society,
        coalesce(bool_and(offenses.attempted_completed_code = 'A'), false) as is_attempted_only,
        coalesce(
            bool_or(
                coalesce(weapon_1.is_weapon_or_force, false)
                or coalesce(weapon_2.is_weapon_or_force, false)
                or coalesce(weapon_3.is_weapon_or_force, false)
            ),
            false
        ) as has_weapon,
        coalesce(
            bool_or(
                coalesce(weapon_1.is_firearm, false)
                or coalesce(weapon_2.is_firearm, false)
                or coalesce(weapon_3.is_firearm, false)
            ),
            false
        ) as has_firearm,
        {%- for code, name in [('A', 'alcohol'), ('D', 'drugs'), ('C', 'computer')] %}
        coalesce(bool_or('{{ code }}' in (
            offenses.offender_suspected_of_using_1,
            offenses.offender_suspected_of_using_2,
            offenses.offender_suspected_of_using_3
        )), false) as offender_used_{{ name }},
        {%- endfor %}
        coalesce(bool_or(offenses.bias_motivation_code not in ('88', '99')), false)
            as is_bias_motivated
    from offenses
    left join offense_codes
        on offenses.offense_code = offense_codes.offense_code
    {%- for slot in range(1, 4) %}
    left join weapon_codes as weapon_{{ slot }}
        on offenses.weapon_force_code_{{ slot }} = weapon_{{ slot }}.weapon_force_code
    {%- endfor %}
    group by offenses.data_year, offenses.incident_key

),

victims_by_incident as (

    select
        victims.data_year,
        victims.incident_key,
        count(*)::smallint as victim_count,
        (count(*) filter (where victim_types.is_person))::smallint as person_victim_count,
        coalesce(bool_or(victims.victim_type_code = 'B'), false) as has_business_victim,
        coalesce(bool_or(victims.victim_type_code = 'L'), false) as has_officer_victim,
        coalesce(bool_or(victims.age_years < 18) filter (where victim_types.is_person), false)
            as has_juvenile_victim,
        coalesce(bool_or(victims.injury_codes <> 'N'), false) as has_injured_victim
    from victims
    left join victim_types
        on victims.victim_type_code = victim_types.victim_type_code
    group by victims.data_year, victims.incident_key

),

relationships_by_incident as (

    -- the lowest-numbered victim's first recorded relationship
    select
        data_year,
        incident_key,
        (array_agg(relationship_code order by victim_sequence_number asc))[1]
            as victim_offender_relationship_code
    from first_relationships
    where relationship_code is not null
    group by data_year, incident_key

),

offenders_by_incident as (

    select
        data_year,
        incident_key,
        (count(*) filter (where not is_unknown_offender))::smallint as offender_count,
        coalesce(bool_or(is_unknown_offender), false) as has_unknown_offender
    from offenders
    group by data_year, incident_key

),

arrestees_by_incident as (

    select
        data_year,
        incident_key,
        count(*)::smallint as arrestee_count,
        min(arrest_date) as first_arrest_date
    from arrestees
    group by data_year, incident_key

),

properties_by_incident as (

    select
        data_year,
        incident_key,
        -- loss type 7 = stolen, 4 = destroyed/damaged; the "unknown value" sentinel is null
        coalesce(sum(property_value) filter (where loss_type_code = '7'), 0)::bigint
            as stolen_property_value,
        coalesce(sum(property_value) filter (where loss_type_code = '4'), 0)::bigint
            as damaged_property_value,
        coalesce(bool_or(is_property_value_unknown), false) as has_unknown_property_value,
        coalesce(bool_or(loss_type_code = '6' and property_description_code = '10'), false)
            as has_drugs_seized
    from properties
    group by data_year, incident_key

),

final as (

    select
        ---------- keys
        incidents.data_year,
        incidents.incident_key,
        incidents.ori,
        incidents.incident_number,
        incidents.agency_ori,

        ---------- when
        incidents.incident_date,
        incidents.is_report_date,
        incidents.incident_hour::smallint as incident_hour,

        ---------- what happened: attributes known when the incident was reported
        offenses_by_incident.primary_offense_code,
        offenses_by_incident.location_type_code,
        coalesce(offenses_by_incident.offense_count, 0)::smallint as offense_count,
        coalesce(offenses_by_incident.has_crime_against_person, false)
            as has_crime_against_person,
        coalesce(offenses_by_incident.has_crime_against_property, false)
            as has_crime_against_property,
        coalesce(offenses_by_incident.has_crime_against_society, false)
            as has_crime_against_society,
        coalesce(offenses_by_incident.is_attempted_only, false) as is_attempted_only,
        coalesce(offenses_by_incident.has_weapon, false) as has_weapon,
        coalesce(offenses_by_incident.has_firearm, false) as has_firearm,
        coalesce(offenses_by_incident.offender_used_alcohol, false) as offender_used_alcohol,
        coalesce(offenses_by_incident.offender_used_drugs, false) as offender_used_drugs,
        coalesce(offenses_by_incident.offender_used_computer, false) as offender_used_computer,
        coalesce(offenses_by_incident.is_bias_motivated, false) as is_bias_motivated,
        coalesce(incidents.is_cargo_theft, false) as is_cargo_theft,
        coalesce(victims_by_incident.victim_count, 0)::smallint as victim_count,
        coalesce(victims_by_incident.person_victim_count, 0)::smallint as person_victim_count,
        coalesce(victims_by_incident.has_business_victim, false) as has_business_victim,
        coalesce(victims_by_incident.has_officer_victim, false) as has_officer_victim,
        coalesce(victims_by_incident.has_juvenile_victim, false) as has_juvenile_victim,
        coalesce(victims_by_incident.has_injured_victim, false) as has_injured_victim,
        relationships_by_incident.victim_offender_relationship_code,
        coalesce(offenders_by_incident.offender_count, 0)::smallint as offender_count,
        coalesce(offenders_by_incident.has_unknown_offender, false) as has_unknown_offender,
        coalesce(properties_by_incident.stolen_property_value, 0) as stolen_property_value,
        coalesce(properties_by_incident.damaged_property_value, 0) as damaged_property_value,
        coalesce(properties_by_incident.has_unknown_property_value, false)
            as has_unknown_property_value,
        coalesce(properties_by_incident.has_drugs_seized, false) as has_drugs_seized,

        ---------- clearance (the outcome; never a feature). Incident-level (reference §6):
        -- by arrest when an arrestee segment exists (or the 01 declares one), exceptionally
        -- when the 01 has reason A-E and there is no arrest (an arrest takes priority, as
        -- Kaplan does), otherwise open.
        {{ nibrs_clearance_outcome(
            'arrestees_by_incident.arrestee_count',
            'incidents.declared_arrestee_count',
            'clearance_codes.is_exceptionally_cleared',
        ) }} as clearance_outcome,
        incidents.cleared_exceptionally_code,
        incidents.exceptional_clearance_date,
        arrestees_by_incident.first_arrest_date,
        coalesce(arrestees_by_incident.arrestee_count, 0)::smallint as arrestee_count,

        ---------- declared by the 01, for checks against the child records
        incidents.declared_offense_count::smallint as declared_offense_count,
        incidents.declared_victim_count::smallint as declared_victim_count,
        incidents.declared_offender_count::smallint as declared_offender_count,
        incidents.declared_arrestee_count::smallint as declared_arrestee_count

    from incidents
    left join clearance_codes
        on incidents.cleared_exceptionally_code = clearance_codes.cleared_exceptionally_code
    left join offenses_by_incident
        on
            incidents.data_year = offenses_by_incident.data_year
            and incidents.incident_key = offenses_by_incident.incident_key
    left join victims_by_incident
        on
            incidents.data_year = victims_by_incident.data_year
            and incidents.incident_key = victims_by_incident.incident_key
    left join relationships_by_incident
        on
            incidents.data_year = relationships_by_incident.data_year
            and incidents.incident_key = relationships_by_incident.incident_key
    left join offenders_by_incident
        on
            incidents.data_year = offenders_by_incident.data_year
            and incidents.incident_key = offenders_by_incident.incident_key
    left join arrestees_by_incident
        on
            incidents.data_year = arrestees_by_incident.data_year
            and incidents.incident_key = arrestees_by_incident.incident_key
    left join properties_by_incident
        on
            incidents.data_year = properties_by_incident.data_year
            and incidents.incident_key = properties_by_incident.incident_key

)

select * from final
