{%- set years = nibrs_years_to_build() %}

with

batch_headers as (

    select * from {{ ref('stg_nibrs__batch_headers') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

agency_months as (

    select * from {{ ref('fct_nibrs_agency_months') }}
    where {{ nibrs_year_filter(years) }}

),

group_b_arrests as (

    select * from {{ ref('fct_nibrs_group_b_arrests') }}
    where {{ nibrs_year_filter(years) }}

),

window_clearances as (

    select * from {{ ref('stg_nibrs__window_exceptional_clearances') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

window_arrestees as (

    select * from {{ ref('stg_nibrs__window_arrestees') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

months as (

    select
        data_year,
        ori,
        count(*) filter (where is_reported)::integer as months_reported_by_flags,
        count(*) filter (where is_reported is not null) > 0 as has_monthly_flags,
        count(*) filter (where has_incidents)::integer as months_with_incidents,
        sum(incident_count)::integer as incident_count
    from agency_months
    group by data_year, ori

),

covered as (

    -- agencies whose data another agency reports, by the agency that reports it
    select
        data_year,
        covered_by_ori as ori,
        count(*)::integer as covered_agency_count,
        coalesce(sum(population), 0)::bigint as covered_population
    from batch_headers
    where covered_by_ori is not null
    group by data_year, covered_by_ori

),

group_b as (

    select
        data_year,
        agency_ori as ori,
        count(*)::integer as group_b_arrest_count
    from group_b_arrests
    group by data_year, agency_ori

),

window_exceptional as (

    -- window records clear incidents that are not in the file: agency-level counts only
    select
        window_clearances.data_year,
        window_clearances.agency_ori as ori,
        count(*)::integer as window_exceptional_clearance_count
    from window_clearances
    inner join {{ ref('nibrs_clearance_codes') }} as clearance_codes
        on window_clearances.cleared_exceptionally_code = clearance_codes.cleared_exceptionally_code
    where clearance_codes.is_exceptionally_cleared
    group by window_clearances.data_year, window_clearances.agency_ori

),

window_arrests as (

    select
        data_year,
        agency_ori as ori,
        count(distinct incident_key)::integer as window_arrest_clearance_count
    from window_arrestees
    where clears_incident
    group by data_year, agency_ori

),

combined as (

    select
        batch_headers.data_year,
        batch_headers.ori,
        batch_headers.agency_name,
        batch_headers.state_abbreviation,
        batch_headers.population_group,
        batch_headers.agency_type_code,
        batch_headers.country_region,
        batch_headers.is_nibrs_active,
        batch_headers.population,
        batch_headers.population_source,
        batch_headers.covered_by_ori,
        coalesce(
            batch_headers.agency_type_code = '0' or batch_headers.covered_by_ori is not null,
            false
        ) as is_covered_by_another_agency,
        coalesce(covered.covered_agency_count, 0) as covered_agency_count,
        coalesce(covered.covered_population, 0) as covered_population,
        batch_headers.months_reported as months_reported_in_header,
        case when months.has_monthly_flags then months.months_reported_by_flags end
            as months_reported_by_flags,
        coalesce(months.has_monthly_flags, false) as has_monthly_flags,
        coalesce(months.months_with_incidents, 0) as months_with_incidents,
        coalesce(months.incident_count, 0) as incident_count,
        coalesce(group_b.group_b_arrest_count, 0) as group_b_arrest_count,
        coalesce(window_exceptional.window_exceptional_clearance_count, 0)
            as window_exceptional_clearance_count,
        coalesce(window_arrests.window_arrest_clearance_count, 0)
            as window_arrest_clearance_count
    from batch_headers
    left join months
        on
            batch_headers.data_year = months.data_year
            and batch_headers.ori = months.ori
    left join covered
        on
            batch_headers.data_year = covered.data_year
            and batch_headers.ori = covered.ori
    left join group_b
        on
            batch_headers.data_year = group_b.data_year
            and batch_headers.ori = group_b.ori
    left join window_exceptional
        on
            batch_headers.data_year = window_exceptional.data_year
            and batch_headers.ori = window_exceptional.ori
    left join window_arrests
        on
            batch_headers.data_year = window_arrests.data_year
            and batch_headers.ori = window_arrests.ori

),

final as (

    select
        ---------- keys
        combined.data_year,
        combined.ori,
        combined.agency_name,
        combined.state_abbreviation,
        combined.population_group,
        combined.agency_type_code,
        combined.country_region,
        combined.is_nibrs_active,
        combined.population,
        combined.population_source,
        combined.covered_by_ori,
        combined.is_covered_by_another_agency,
        combined.covered_agency_count,
        combined.covered_population,
        (coalesce(combined.population, 0) + combined.covered_population)::bigint
            as population_served,
        combined.months_reported_in_header,
        combined.months_reported_by_flags,
        combined.has_monthly_flags,
        -- the monthly flags when the year has them (zero report or data sent), else the
        -- header's count (reference §1.5)
        coalesce(combined.months_reported_by_flags, combined.months_reported_in_header, 0)
            as months_reported,
        coalesce(combined.months_reported_by_flags, combined.months_reported_in_header, 0) = 12
            as is_full_year,
        combined.months_reported_by_flags = combined.months_reported_in_header
            as flags_agree_with_header,
        combined.months_with_incidents,
        combined.incident_count,
        combined.group_b_arrest_count,
        combined.window_exceptional_clearance_count,
        combined.window_arrest_clearance_count
    from combined

)

select * from final
