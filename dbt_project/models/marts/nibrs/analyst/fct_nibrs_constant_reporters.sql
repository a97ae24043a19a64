{{ config(year_loads='constant_reporter_year_loads') }}
{%- set years = nibrs_years_to_build() %}
{%- set first_year, last_year = nibrs_constant_reporter_range() %}

with

agency_years as (

    -- every year of the range, whichever years this build writes
    select * from {{ ref('fct_nibrs_agency_years') }}
    where data_year between {{ first_year }} and {{ last_year }}

),

range_years as (

    select generate_series({{ first_year }}, {{ last_year }})::integer as data_year

),

loaded_years as (

    select distinct data_year from agency_years

),

loaded as (

    select count(*)::integer as years_loaded_in_range
    from loaded_years

),

agencies as (

    select distinct ori from agency_years

),

grid as (

    -- every agency in every year of the range, with or without a header that year
    select
        range_years.data_year,
        agencies.ori,
        agency_years.state_abbreviation,
        agency_years.population_group,
        agency_years.ori is not null as has_header,
        coalesce(agency_years.months_reported, 0) as months_reported,
        coalesce(agency_years.is_full_year and not agency_years.is_covered_by_another_agency, false)
            as is_full_year_reporter
    from range_years
    cross join agencies
    left join agency_years
        on
            range_years.data_year = agency_years.data_year
            and agencies.ori = agency_years.ori

),

per_agency as (

    select
        ori,
        count(*) filter (where has_header)::integer as years_with_header,
        count(*) filter (where is_full_year_reporter)::integer as years_full_year,
        min(months_reported)::integer as min_months_reported
    from grid
    group by ori

),

final as (

    select
        grid.data_year,
        grid.ori,
        {{ first_year }} as first_year,
        {{ last_year }} as last_year,
        grid.state_abbreviation,
        grid.population_group,
        grid.months_reported,
        {{ last_year - first_year + 1 }} as years_in_range,
        loaded.years_loaded_in_range,
        per_agency.years_with_header,
        per_agency.years_full_year,
        per_agency.min_months_reported,
        loaded.years_loaded_in_range = {{ last_year - first_year + 1 }}
        and per_agency.years_full_year = {{ last_year - first_year + 1 }} as is_constant_reporter
    from grid
    inner join per_agency
        on grid.ori = per_agency.ori
    -- rows for the loaded years of the range only: a year not loaded has no partition
    inner join loaded_years
        on grid.data_year = loaded_years.data_year
    cross join loaded
    where {{ nibrs_year_filter(years) | replace('data_year', 'grid.data_year') }}

)

select * from final
