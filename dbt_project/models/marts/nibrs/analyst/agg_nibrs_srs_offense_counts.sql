{%- set years = nibrs_years_to_build() %}

with

incident_offenses as (

    select * from {{ ref('int_nibrs_incident_srs_offenses') }}
    where {{ nibrs_year_filter(years) }}

),

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}
    where {{ nibrs_year_filter(years) }}

),

agency_years as (

    select * from {{ ref('fct_nibrs_agency_years') }}
    where {{ nibrs_year_filter(years) }}

),

srs_offenses as (

    select distinct
        srs_offense,
        srs_offense_name,
        index_class,
        hierarchy_rank,
        count_unit
    from {{ ref('nibrs_srs_offense_map') }}

),

counted as (

    select
        incident_offenses.data_year,
        incidents.agency_ori as ori,
        incident_offenses.srs_offense,
        count(*) filter (where incident_offenses.is_scored_by_hierarchy)::integer
            as hierarchy_incident_count,
        coalesce(sum(incident_offenses.offense_unit_count) filter (
            where incident_offenses.is_scored_by_hierarchy
        ), 0)::integer as hierarchy_offense_count,
        count(*)::integer as all_incident_count,
        sum(incident_offenses.offense_unit_count)::integer as all_offense_count,
        sum(incident_offenses.offense_record_count)::integer as offense_record_count,
        -- offenses cleared, not persons: the scored offense's units in cleared incidents
        coalesce(sum(incident_offenses.offense_unit_count) filter (
            where
            incident_offenses.is_scored_by_hierarchy
            and incidents.clearance_outcome in ('arrest', 'exceptional')
        ), 0)::integer as hierarchy_cleared_count,
        coalesce(sum(incident_offenses.offense_unit_count) filter (
            where
            incident_offenses.is_scored_by_hierarchy
            and incidents.clearance_outcome = 'arrest'
        ), 0)::integer as hierarchy_cleared_by_arrest_count
    from incident_offenses
    inner join incidents
        on
            incident_offenses.data_year = incidents.data_year
            and incident_offenses.incident_key = incidents.incident_key
    group by incident_offenses.data_year, incidents.agency_ori, incident_offenses.srs_offense

),

final as (

    select
        ---------- keys
        counted.data_year,
        counted.ori,
        agency_years.state_abbreviation,
        agency_years.population_group,
        counted.srs_offense,
        srs_offenses.srs_offense_name,
        srs_offenses.index_class,
        srs_offenses.hierarchy_rank,
        srs_offenses.count_unit,

        ---------- counts, each in the unit its name and description give
        counted.hierarchy_incident_count,
        counted.hierarchy_offense_count,
        counted.all_incident_count,
        counted.all_offense_count,
        counted.offense_record_count,
        counted.hierarchy_cleared_count,
        counted.hierarchy_cleared_by_arrest_count,

        ---------- rates
        agency_years.is_full_year,
        agency_years.is_covered_by_another_agency,
        agency_years.population_served,
        case
            when {{ rate_unavailable_reason('agency_years') }} is null
                then round(
                        counted.hierarchy_offense_count * 100000.0 / agency_years.population_served,
                        4
                    )
        end as hierarchy_offenses_per_100k,
        {{ rate_unavailable_reason('agency_years') }} as rate_unavailable_reason
    from counted
    inner join srs_offenses
        on counted.srs_offense = srs_offenses.srs_offense
    left join agency_years
        on
            counted.data_year = agency_years.data_year
            and counted.ori = agency_years.ori

)

select * from final
