{{ config(year_loads='constant_reporter_year_loads') }}
{%- set years = nibrs_years_to_build() %}

with

constant_reporters as (

    select * from {{ ref('fct_nibrs_constant_reporters') }}
    where {{ nibrs_year_filter(years) }} and is_constant_reporter

),

agency_year_totals as (

    select * from {{ ref('agg_nibrs_agency_year_offenses') }}
    where {{ nibrs_year_filter(years) }} and category_type = 'all'

),

srs_counts as (

    select
        data_year,
        ori,
        sum(hierarchy_offense_count) filter (where index_class = 'violent') as violent_count,
        sum(hierarchy_offense_count) filter (where index_class = 'property') as property_count
    from {{ ref('agg_nibrs_srs_offense_counts') }}
    where {{ nibrs_year_filter(years) }}
    group by data_year, ori

),

ranges as (

    select distinct
        data_year,
        first_year,
        last_year
    from {{ ref('fct_nibrs_constant_reporters') }}
    where {{ nibrs_year_filter(years) }}

),

totals as (

    select
        constant_reporters.data_year,
        coalesce(constant_reporters.state_abbreviation, 'ALL') as state_abbreviation,
        count(*)::integer as constant_reporter_count,
        coalesce(sum(agency_year_totals.population_served), 0)::bigint as population_served,
        coalesce(sum(agency_year_totals.incident_count), 0)::integer as incident_count,
        coalesce(sum(agency_year_totals.offense_count), 0)::integer as offense_count,
        coalesce(sum(agency_year_totals.cleared_count), 0)::integer as cleared_count,
        coalesce(sum(srs_counts.violent_count), 0)::integer as srs_violent_offense_count,
        coalesce(sum(srs_counts.property_count), 0)::integer as srs_property_offense_count
    from constant_reporters
    left join agency_year_totals
        on
            constant_reporters.data_year = agency_year_totals.data_year
            and constant_reporters.ori = agency_year_totals.ori
    left join srs_counts
        on
            constant_reporters.data_year = srs_counts.data_year
            and constant_reporters.ori = srs_counts.ori
    group by grouping sets (
        (constant_reporters.data_year, constant_reporters.state_abbreviation),
        (constant_reporters.data_year)
    )

),

with_empty_nation as (

    -- a year of the range without constant reporters still has its national row
    select
        ranges.data_year,
        ranges.first_year,
        ranges.last_year,
        coalesce(totals.state_abbreviation, 'ALL') as state_abbreviation,
        coalesce(totals.constant_reporter_count, 0) as constant_reporter_count,
        coalesce(totals.population_served, 0) as population_served,
        coalesce(totals.incident_count, 0) as incident_count,
        coalesce(totals.offense_count, 0) as offense_count,
        coalesce(totals.cleared_count, 0) as cleared_count,
        coalesce(totals.srs_violent_offense_count, 0) as srs_violent_offense_count,
        coalesce(totals.srs_property_offense_count, 0) as srs_property_offense_count
    from ranges
    left join totals
        on ranges.data_year = totals.data_year

),

final as (

    select
        data_year,
        state_abbreviation,
        first_year,
        last_year,
        constant_reporter_count,
        population_served,
        incident_count,
        offense_count,
        cleared_count,
        round(cleared_count::numeric / nullif(incident_count, 0), 6) as clearance_rate,
        srs_violent_offense_count,
        srs_property_offense_count,
        case
            when population_served >= 30
                then round(incident_count * 100000.0 / population_served, 4)
        end as incidents_per_100k,
        case
            when constant_reporter_count = 0 then 'no_constant_reporters'
            when population_served < 30 then 'population_under_30'
        end as rate_unavailable_reason
    from with_empty_nation

)

select * from final
