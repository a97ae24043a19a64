{%- set years = nibrs_years_to_build() %}

with

agency_years as (

    select * from {{ ref('int_nibrs_agency_years_effective') }}
    where {{ nibrs_year_filter(years) }}

),

by_state as (

    select
        data_year,
        state_abbreviation,
        count(*)::integer as agency_count,
        count(*) filter (where months_reported >= 1)::integer as agencies_reporting_any_month,
        count(*) filter (where months_reported = 12)::integer as agencies_reporting_full_year,
        count(*) filter (where is_covered_by_another_agency)::integer as covered_agency_count,
        count(*) filter (where months_reported_effective = 12)::integer
            as agencies_participating_full_year,
        count(*) filter (where months_reported_effective >= 1)::integer
            as agencies_reporting_any_effective,
        count(*) filter (where is_full_year_reporter)::integer as full_year_reporter_count,
        sum(population)::bigint as population_total,
        coalesce(sum(population) filter (where months_reported_effective >= 1), 0)::bigint
            as population_reporting_any,
        -- covered agencies counted under the agency that covers them
        coalesce(sum(population_served) filter (where is_full_year_reporter), 0)::bigint
            as population_full_year,
        -- population x share of the year not reported: the coverage indicator's loss
        sum(population * (12 - months_reported_effective) / 12.0) as population_missing,
        coalesce(sum(incident_count) filter (where is_full_year_reporter), 0)::integer
            as incident_count_full_year
    from agency_years
    group by data_year, state_abbreviation

),

final as (

    select
        data_year,
        coalesce(state_abbreviation, '') as state_abbreviation,
        agency_count,
        agencies_reporting_any_month,
        agencies_reporting_full_year,
        covered_agency_count,
        agencies_participating_full_year,
        {{ percent_of('agencies_reporting_any_effective', 'agency_count') }}
            as pct_agencies_reporting_any,
        {{ percent_of('agencies_participating_full_year', 'agency_count') }}
            as pct_agencies_participating_full_year,
        population_total,
        population_reporting_any,
        population_full_year,
        {{ percent_of('population_reporting_any', 'population_total') }}
            as pct_population_reporting_any,
        {{ percent_of('population_full_year', 'population_total') }}
            as pct_population_full_year,
        {{ coverage_indicator('population_missing', 'population_total') }} as coverage_indicator,
        {{ coverage_tier('population_missing', 'population_total') }} as coverage_tier,
        incident_count_full_year,
        case
            when full_year_reporter_count > 0 and population_full_year >= 30
                then round(incident_count_full_year * 100000.0 / population_full_year, 4)
        end as incidents_per_100k,
        case
            when full_year_reporter_count = 0 then 'no_full_year_reporters'
            when population_full_year < 30 then 'population_under_30'
        end as rate_unavailable_reason
    from by_state

)

select * from final
