{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='data_year',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['data_year', 'source_loaded_at']},
            {'columns': ['agency_ori', 'data_year']},
        ],
    )
}}
{%- set years = nibrs_years_to_build() %}

with

incidents as (

    select * from {{ ref('stg_nibrs__incidents') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

batch_headers as (

    select * from {{ ref('stg_nibrs__batch_headers') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

offenses as (

    select * from {{ ref('int_nibrs_offenses_aggregated_to_incidents') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

victims as (

    select * from {{ ref('int_nibrs_victims_aggregated_to_incidents') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

offenders as (

    select * from {{ ref('int_nibrs_offenders_aggregated_to_incidents') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

arrestees as (

    select * from {{ ref('int_nibrs_arrestees_aggregated_to_incidents') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

properties as (

    select * from {{ ref('int_nibrs_properties_aggregated_to_incidents') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

year_loads as (

    {{ nibrs_year_loads(years) }}

),

offense_codes as (

    select * from {{ ref('nibrs_offense_codes') }}

),

location_types as (

    select * from {{ ref('nibrs_location_types') }}

),

clearance_codes as (

    select * from {{ ref('nibrs_clearance_codes') }}

),

agency_types as (

    select * from {{ ref('nibrs_agency_types') }}

),

cleared as (

    -- Clearance is incident-level (reference §6): by arrest when an arrestee segment exists
    -- (or the 01 declares one), exceptionally when the 01 has reason A-E and there is no
    -- arrest (an arrest takes priority, as Kaplan does), otherwise open.
    select
        incidents.*,
        coalesce(arrestees.arrestee_count, 0) as arrestee_count,
        arrestees.first_arrest_date,
        coalesce(arrestees.arrestee_count, 0) > 0
        or coalesce(incidents.declared_arrestee_count, 0) > 0 as is_cleared_by_arrest,
        coalesce(clearance_codes.is_exceptionally_cleared, false) as has_exceptional_clearance
    from incidents
    left join arrestees
        on
            incidents.data_year = arrestees.data_year
            and incidents.incident_id = arrestees.incident_id
    left join clearance_codes
        on incidents.cleared_exceptionally_code = clearance_codes.cleared_exceptionally_code

),

outcomes as (

    select
        *,
        case
            when is_cleared_by_arrest then 'arrest'
            when has_exceptional_clearance then 'exceptional'
            else 'open'
        end as clearance_outcome,
        case
            when is_cleared_by_arrest then first_arrest_date
            when has_exceptional_clearance then exceptional_clearance_date
        end as clearance_date
    from cleared

),

final as (

    select
        ---------- keys
        outcomes.incident_id,
        outcomes.data_year,
        outcomes.ori,
        outcomes.incident_number,
        outcomes.agency_ori,

        ---------- the agency, as its batch header describes it that year
        outcomes.state_code,
        batch_headers.state_abbreviation,
        batch_headers.population_group,
        batch_headers.agency_type_code,
        agency_types.agency_type_name,
        batch_headers.country_region,
        batch_headers.population as agency_population,

        ---------- when
        outcomes.incident_date,
        outcomes.is_report_date,
        outcomes.incident_hour,
        extract(month from outcomes.incident_date)::integer as incident_month,
        -- 0 = Monday ... 6 = Sunday, as Python's weekday()
        (extract(isodow from outcomes.incident_date)::integer - 1) as incident_day_of_week,
        extract(isodow from outcomes.incident_date) >= 6 as is_weekend,
        outcomes.incident_hour >= 18 or outcomes.incident_hour < 6 as is_night,

        ---------- what happened: attributes known when the incident was reported
        offenses.primary_offense_code,
        offense_codes.offense_name as primary_offense_name,
        offense_codes.offense_category as primary_offense_category,
        offense_codes.crime_against as primary_crime_against,
        offense_codes.index_crime_class as primary_index_crime_class,
        offenses.location_type_code,
        location_types.location_type_name,
        coalesce(offenses.offense_count, 0) as offense_count,
        coalesce(offenses.has_crime_against_person, false) as has_crime_against_person,
        coalesce(offenses.has_crime_against_property, false) as has_crime_against_property,
        coalesce(offenses.has_crime_against_society, false) as has_crime_against_society,
        coalesce(offenses.is_attempted_only, false) as is_attempted_only,
        coalesce(offenses.has_weapon, false) as has_weapon,
        coalesce(offenses.has_firearm, false) as has_firearm,
        coalesce(offenses.offender_used_alcohol, false) as offender_used_alcohol,
        coalesce(offenses.offender_used_drugs, false) as offender_used_drugs,
        coalesce(offenses.offender_used_computer, false) as offender_used_computer,
        coalesce(offenses.is_bias_motivated, false) as is_bias_motivated,
        coalesce(outcomes.is_cargo_theft, false) as is_cargo_theft,
        coalesce(victims.victim_count, 0) as victim_count,
        coalesce(victims.person_victim_count, 0) as person_victim_count,
        coalesce(victims.has_business_victim, false) as has_business_victim,
        coalesce(victims.has_officer_victim, false) as has_officer_victim,
        coalesce(victims.has_juvenile_victim, false) as has_juvenile_victim,
        coalesce(victims.has_injured_victim, false) as has_injured_victim,
        victims.relationship_group as victim_offender_relationship_group,
        coalesce(offenders.offender_count, 0) as offender_count,
        coalesce(offenders.has_unknown_offender, false) as has_unknown_offender,
        coalesce(properties.stolen_property_value, 0) as stolen_property_value,
        coalesce(properties.damaged_property_value, 0) as damaged_property_value,
        coalesce(properties.has_unknown_property_value, false) as has_unknown_property_value,
        coalesce(properties.has_drugs_seized, false) as has_drugs_seized,

        ---------- clearance (the outcome; never a feature)
        outcomes.clearance_outcome,
        outcomes.clearance_outcome <> 'open' as is_cleared,
        outcomes.is_cleared_by_arrest,
        outcomes.clearance_outcome = 'exceptional' as is_cleared_exceptionally,
        outcomes.cleared_exceptionally_code,
        case
            when outcomes.clearance_outcome = 'exceptional'
                then clearance_codes.cleared_exceptionally_name
        end as exceptional_clearance_reason,
        outcomes.exceptional_clearance_date,
        outcomes.first_arrest_date,
        outcomes.arrestee_count,
        outcomes.clearance_date,
        (outcomes.clearance_date - outcomes.incident_date) as days_to_clearance,

        ---------- declared by the 01, for checks against the child records
        outcomes.declared_offense_count,
        outcomes.declared_victim_count,
        outcomes.declared_offender_count,
        outcomes.declared_arrestee_count,

        ---------- lineage
        year_loads.source_loaded_at

    from outcomes
    inner join year_loads
        on outcomes.data_year = year_loads.data_year
    left join batch_headers
        on
            outcomes.data_year = batch_headers.data_year
            and outcomes.agency_ori = batch_headers.ori
    left join offenses
        on
            outcomes.data_year = offenses.data_year
            and outcomes.incident_id = offenses.incident_id
    left join victims
        on
            outcomes.data_year = victims.data_year
            and outcomes.incident_id = victims.incident_id
    left join offenders
        on
            outcomes.data_year = offenders.data_year
            and outcomes.incident_id = offenders.incident_id
    left join properties
        on
            outcomes.data_year = properties.data_year
            and outcomes.incident_id = properties.incident_id
    left join offense_codes
        on offenses.primary_offense_code = offense_codes.offense_code
    left join location_types
        on offenses.location_type_code = location_types.location_type_code
    left join clearance_codes
        on outcomes.cleared_exceptionally_code = clearance_codes.cleared_exceptionally_code
    left join agency_types
        on batch_headers.agency_type_code = agency_types.agency_type_code

)

select * from final
