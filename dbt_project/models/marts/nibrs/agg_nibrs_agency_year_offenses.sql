{{
    config(
        post_hook=[
            "create index if not exists agg_nibrs_agency_year_offenses_category_type"
            ~ " on {{ this }} (category_type, data_year)",
        ],
    )
}}

-- (category_type, data_year): the dashboard's national trend sums every agency's `all` row,
-- 2.5% of a year's rows, which without it read the whole mart (133 ms a year at 8M
-- incidents, growing with every year loaded; 27 ms with it). The `all` rows are written
-- first (`stacked` below), so they lie in the first few hundred pages. An index on the
-- parent: each new year's partition gets it as it is attached, and a hook rather than
-- `indexes` so that warehouses built before it get it at their next build.

{%- set years = nibrs_years_to_build() %}

with

offenses as (

    select * from {{ ref('fct_nibrs_offenses') }}
    where {{ nibrs_year_filter(years) }}

),

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}
    where {{ nibrs_year_filter(years) }}

),

offense_codes as (

    select * from {{ ref('nibrs_offense_codes') }}

),

agency_years as (

    select * from {{ ref('fct_nibrs_agency_years') }}
    where {{ nibrs_year_filter(years) }}

),

offenses_classified as (

    -- the incident's outcome on each of its offenses: clearance is incident-level
    select
        offenses.data_year,
        incidents.agency_ori,
        offenses.incident_key,
        incidents.clearance_outcome,
        offenses.offense_code,
        coalesce(offense_codes.offense_category, 'Unknown') as offense_category,
        coalesce(offense_codes.crime_against, 'Unknown') as crime_against
    from offenses
    inner join incidents
        on
            offenses.data_year = incidents.data_year
            and offenses.incident_key = incidents.incident_key
    left join offense_codes
        on offenses.offense_code = offense_codes.offense_code

),

counted as (

    -- Clearance is incident-level: an incident counts once per category it has an
    -- offense in, with its outcome (reference §6).
    select
        data_year,
        agency_ori as ori,
        case
            when grouping(offense_code) = 0 then 'offense'
            when grouping(offense_category) = 0 then 'offense_category'
            when grouping(crime_against) = 0 then 'crime_against'
            else 'all'
        end as category_type,
        case
            when grouping(offense_code) = 0 then offense_code
            when grouping(offense_category) = 0 then offense_category
            when grouping(crime_against) = 0 then crime_against
            else 'all'
        end as category,
        count(*)::integer as offense_count,
        count(distinct incident_key)::integer as incident_count,
        count(distinct incident_key) filter (where clearance_outcome = 'arrest')::integer
            as cleared_by_arrest_count,
        count(distinct incident_key) filter (where clearance_outcome = 'exceptional')::integer
            as cleared_exceptionally_count
    from offenses_classified
    group by grouping sets (
        (data_year, agency_ori),
        (data_year, agency_ori, crime_against),
        (data_year, agency_ori, offense_category),
        (data_year, agency_ori, offense_code)
    )

),

all_rows as (

    -- every agency-year gets an "all" row, zero when it had no incidents, so that rates
    -- summed over agencies have the right population
    select
        agency_years.data_year,
        agency_years.ori,
        'all' as category_type,
        'all' as category,
        coalesce(counted.offense_count, 0) as offense_count,
        coalesce(counted.incident_count, 0) as incident_count,
        coalesce(counted.cleared_by_arrest_count, 0) as cleared_by_arrest_count,
        coalesce(counted.cleared_exceptionally_count, 0) as cleared_exceptionally_count
    from agency_years
    left join counted
        on
            agency_years.data_year = counted.data_year
            and agency_years.ori = counted.ori
            and counted.category_type = 'all'

),

stacked as (

    select * from all_rows
    union all
    select * from counted
    where category_type <> 'all'

),

final as (

    select
        ---------- keys
        stacked.data_year,
        stacked.ori,
        agency_years.state_abbreviation,
        agency_years.population_group,
        stacked.category_type,
        stacked.category,
        case
            when stacked.category_type = 'offense' then offense_codes.offense_name
            else stacked.category
        end as category_name,
        stacked.offense_count,
        stacked.incident_count,
        (stacked.cleared_by_arrest_count + stacked.cleared_exceptionally_count)
            as cleared_count,
        stacked.cleared_by_arrest_count,
        stacked.cleared_exceptionally_count,
        round(
            (stacked.cleared_by_arrest_count + stacked.cleared_exceptionally_count)::numeric
            / nullif(stacked.incident_count, 0),
            6
        ) as clearance_rate,
        round(stacked.cleared_by_arrest_count::numeric / nullif(stacked.incident_count, 0), 6)
            as arrest_clearance_rate,
        round(
            stacked.cleared_exceptionally_count::numeric / nullif(stacked.incident_count, 0), 6
        ) as exceptional_clearance_rate,
        agency_years.months_reported,
        agency_years.is_full_year,
        agency_years.is_covered_by_another_agency,
        agency_years.population_served,
        -- Rates only where the denominator is whole: the agency reported all twelve months,
        -- reports for itself and serves someone (reference §1.5, §6).
        agency_years.is_full_year
        and not agency_years.is_covered_by_another_agency
        and agency_years.population_served > 0 as is_rate_eligible,
        case
            when
                agency_years.is_full_year
                and not agency_years.is_covered_by_another_agency
                and agency_years.population_served > 0
                then round(stacked.offense_count * 100000.0 / agency_years.population_served, 4)
        end as offenses_per_100k,
        case
            when
                agency_years.is_full_year
                and not agency_years.is_covered_by_another_agency
                and agency_years.population_served > 0
                then round(stacked.incident_count * 100000.0 / agency_years.population_served, 4)
        end as incidents_per_100k
    from stacked
    inner join agency_years
        on
            stacked.data_year = agency_years.data_year
            and stacked.ori = agency_years.ori
    left join offense_codes
        on
            stacked.category_type = 'offense'
            and stacked.category = offense_codes.offense_code

)

select * from final
