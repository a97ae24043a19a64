{%- set years = nibrs_years_to_build() %}

with

agency_years as (

    select * from {{ ref('int_nibrs_agency_years_effective') }}
    where {{ nibrs_year_filter(years) }}

),

portions as (

    select * from {{ ref('int_nibrs_agency_county_portions') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

agency_portions as (

    -- each agency's portion of each county it has one in, with its months
    select
        portions.data_year,
        portions.state_abbreviation,
        portions.county_code,
        portions.ori,
        min(portions.fips_county_code) as fips_county_code,
        min(portions.slot_number) as slot_number,
        sum(portions.portion_population)::bigint as portion_population,
        min(agency_years.months_reported) as months_reported,
        min(agency_years.months_reported_effective) as months_reported_effective,
        bool_or(agency_years.is_covered_by_another_agency) as is_covered_by_another_agency,
        bool_or(agency_years.is_full_year_reporter) as is_full_year_reporter,
        -- whose counts hold this population: the agency's own, or its (direct) covering
        -- agency's, as population_served counts it
        min(coalesce(agency_years.covered_by_ori, agency_years.ori)) as served_by_ori
    from portions
    inner join agency_years
        on
            portions.data_year = agency_years.data_year
            and portions.ori = agency_years.ori
    group by portions.data_year, portions.state_abbreviation, portions.county_code, portions.ori

),

served as (

    -- the population each full-year reporter serves, county by county: its own portions and
    -- those of the agencies it covers
    select
        agency_portions.data_year,
        agency_portions.state_abbreviation,
        agency_portions.county_code,
        agency_portions.served_by_ori as ori,
        sum(agency_portions.portion_population) as served_population
    from agency_portions
    inner join agency_years
        on
            agency_portions.data_year = agency_years.data_year
            and agency_portions.served_by_ori = agency_years.ori
            and agency_years.is_full_year_reporter
    group by
        agency_portions.data_year,
        agency_portions.state_abbreviation,
        agency_portions.county_code,
        agency_portions.served_by_ori

),

first_county as (

    -- where an agency serving nobody puts its incidents: its first county slot
    select distinct on (data_year, ori)
        data_year,
        ori,
        state_abbreviation,
        county_code
    from agency_portions
    order by data_year, ori, slot_number

),

allocated as (

    -- a full-year reporter's incidents over the counties it serves, by population
    select
        agency_years.data_year,
        coalesce(served.state_abbreviation, first_county.state_abbreviation)
            as state_abbreviation,
        coalesce(served.county_code, first_county.county_code) as county_code,
        coalesce(served.served_population, 0) as served_population,
        case
            when sum(served.served_population) over (
                    partition by agency_years.data_year, agency_years.ori
                ) > 0
                then agency_years.incident_count * served.served_population::numeric
                    / sum(served.served_population) over (
                        partition by agency_years.data_year, agency_years.ori
                    )
            else agency_years.incident_count::numeric
        end as incidents
    from agency_years
    left join served
        on
            agency_years.data_year = served.data_year
            and agency_years.ori = served.ori
            and served.served_population > 0
    left join first_county
        on
            agency_years.data_year = first_county.data_year
            and agency_years.ori = first_county.ori
    where
        agency_years.is_full_year_reporter
        and (served.ori is not null or first_county.ori is not null)

),

allocated_by_county as (

    select
        data_year,
        state_abbreviation,
        county_code,
        count(*)::integer as full_year_reporter_count,
        sum(served_population)::bigint as population_full_year,
        sum(incidents) as incident_count_full_year
    from allocated
    group by data_year, state_abbreviation, county_code

),

by_county as (

    select
        data_year,
        state_abbreviation,
        county_code,
        mode() within group (order by fips_county_code) as fips_county_code,
        count(*)::integer as agency_count,
        count(*) filter (where months_reported >= 1)::integer as agencies_reporting_any_month,
        count(*) filter (where months_reported = 12)::integer as agencies_reporting_full_year,
        count(*) filter (where is_covered_by_another_agency)::integer as covered_agency_count,
        count(*) filter (where months_reported_effective = 12)::integer
            as agencies_participating_full_year,
        count(*) filter (where months_reported_effective >= 1)::integer
            as agencies_reporting_any_effective,
        sum(portion_population)::bigint as population_total,
        coalesce(sum(portion_population) filter (where months_reported_effective >= 1), 0)::bigint
            as population_reporting_any,
        sum(portion_population * (12 - months_reported_effective) / 12.0) as population_missing
    from agency_portions
    group by data_year, state_abbreviation, county_code

),

final as (

    select
        by_county.data_year,
        coalesce(by_county.state_abbreviation, '') as state_abbreviation,
        by_county.county_code,
        by_county.fips_county_code,
        by_county.agency_count,
        by_county.agencies_reporting_any_month,
        by_county.agencies_reporting_full_year,
        by_county.covered_agency_count,
        by_county.agencies_participating_full_year,
        {{ percent_of('by_county.agencies_reporting_any_effective', 'by_county.agency_count') }}
            as pct_agencies_reporting_any,
        {{ percent_of('by_county.agencies_participating_full_year', 'by_county.agency_count') }}
            as pct_agencies_participating_full_year,
        by_county.population_total,
        by_county.population_reporting_any,
        coalesce(allocated_by_county.population_full_year, 0) as population_full_year,
        {{ percent_of('by_county.population_reporting_any', 'by_county.population_total') }}
            as pct_population_reporting_any,
        {{ percent_of(
            'coalesce(allocated_by_county.population_full_year, 0)', 'by_county.population_total'
        ) }} as pct_population_full_year,
        {{ coverage_indicator('by_county.population_missing', 'by_county.population_total') }}
            as coverage_indicator,
        {{ coverage_tier('by_county.population_missing', 'by_county.population_total') }}
            as coverage_tier,
        round(coalesce(allocated_by_county.incident_count_full_year, 0), 4)
            as incident_count_full_year,
        case
            when allocated_by_county.population_full_year >= 30
                then round(
                        allocated_by_county.incident_count_full_year * 100000.0
                        / allocated_by_county.population_full_year,
                        4
                    )
        end as incidents_per_100k,
        case
            when coalesce(allocated_by_county.full_year_reporter_count, 0) = 0
                then 'no_full_year_reporters'
            when allocated_by_county.population_full_year < 30 then 'population_under_30'
        end as rate_unavailable_reason
    from by_county
    left join allocated_by_county
        on
            by_county.data_year = allocated_by_county.data_year
            and by_county.state_abbreviation = allocated_by_county.state_abbreviation
            and by_county.county_code = allocated_by_county.county_code

)

select * from final
