with

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}

),

agency_years as (

    select * from {{ ref('fct_nibrs_agency_years') }}

),

offense_codes as (

    select * from {{ ref('nibrs_offense_codes') }}

),

location_types as (

    select * from {{ ref('nibrs_location_types') }}

),

relationships as (

    select * from {{ ref('nibrs_relationship_codes') }}

),

clearance_codes as (

    select * from {{ ref('nibrs_clearance_codes') }}

),

agency_types as (

    select * from {{ ref('nibrs_agency_types') }}

),

year_builds as (

    -- which raw load each year's incidents were built from (the scorer rescores a year
    -- when it changes)
    select
        data_year,
        max(source_loaded_at) as source_loaded_at
    from {{ mart_builds_relation() }}
    where model = 'fct_nibrs_incidents'
    group by data_year

),

final as (

    select
        incidents.*,

        ---------- the agency that year, as its batch header describes it
        agency_years.state_abbreviation,
        agency_years.population_group,
        agency_years.agency_type_code,
        agency_types.agency_type_name,
        agency_years.country_region,
        agency_years.population as agency_population,

        ---------- when, derived
        extract(month from incidents.incident_date)::integer as incident_month,
        -- 0 = Monday ... 6 = Sunday, as Python's weekday()
        (extract(isodow from incidents.incident_date)::integer - 1) as incident_day_of_week,
        extract(isodow from incidents.incident_date) >= 6 as is_weekend,
        incidents.incident_hour >= 18 or incidents.incident_hour < 6 as is_night,

        ---------- labels
        offense_codes.offense_name as primary_offense_name,
        offense_codes.offense_category as primary_offense_category,
        offense_codes.crime_against as primary_crime_against,
        offense_codes.index_crime_class as primary_index_crime_class,
        location_types.location_type_name,
        relationships.harmonized_group as victim_offender_relationship_group,

        ---------- the outcome, spelled out
        incidents.clearance_outcome <> 'open' as is_cleared,
        incidents.clearance_outcome = 'arrest' as is_cleared_by_arrest,
        incidents.clearance_outcome = 'exceptional' as is_cleared_exceptionally,
        case
            when incidents.clearance_outcome = 'exceptional'
                then clearance_codes.cleared_exceptionally_name
        end as exceptional_clearance_reason,
        case incidents.clearance_outcome
            when 'arrest' then incidents.first_arrest_date
            when 'exceptional' then incidents.exceptional_clearance_date
        end as clearance_date,
        case incidents.clearance_outcome
            when 'arrest' then incidents.first_arrest_date - incidents.incident_date
            when 'exceptional'
                then incidents.exceptional_clearance_date - incidents.incident_date
        end as days_to_clearance,

        ---------- lineage
        year_builds.source_loaded_at

    from incidents
    left join agency_years
        on
            incidents.data_year = agency_years.data_year
            and incidents.agency_ori = agency_years.ori
    left join agency_types
        on agency_years.agency_type_code = agency_types.agency_type_code
    left join year_builds
        on incidents.data_year = year_builds.data_year
    left join offense_codes
        on incidents.primary_offense_code = offense_codes.offense_code
    left join location_types
        on incidents.location_type_code = location_types.location_type_code
    left join relationships
        on incidents.victim_offender_relationship_code = relationships.relationship_code
    left join clearance_codes
        on incidents.cleared_exceptionally_code = clearance_codes.cleared_exceptionally_code

)

select * from final
