-- Each agency-year with the months that count for coverage: a covered agency takes those of
-- the agency at the root of its covered-by chain (reference §3.4), never "non-reporting"
-- while its data goes in under another ORI.

with

agency_years as (

    select * from {{ ref('fct_nibrs_agency_years') }}

),

chained as (

    -- covered-by chains flattened three levels deep (CDE flattens them recursively; longer
    -- chains are not known in the files, and a recursive CTE would stop the year filter from
    -- reaching the partitions)
    select
        agency_years.*,
        coalesce(level_3.ori, level_2.ori, level_1.ori) as root_ori,
        coalesce(level_3.months_reported, level_2.months_reported, level_1.months_reported)
            as root_months_reported
    from agency_years
    left join agency_years as level_1
        on
            agency_years.data_year = level_1.data_year
            and agency_years.covered_by_ori = level_1.ori
            and agency_years.covered_by_ori <> agency_years.ori
    left join agency_years as level_2
        on
            level_1.data_year = level_2.data_year
            and level_1.covered_by_ori = level_2.ori
            and level_2.ori not in (agency_years.ori, level_1.ori)
    left join agency_years as level_3
        on
            level_2.data_year = level_3.data_year
            and level_2.covered_by_ori = level_3.ori
            and level_3.ori not in (agency_years.ori, level_1.ori, level_2.ori)

),

final as (

    select
        data_year,
        ori,
        state_abbreviation,
        population_group,
        agency_type_code,
        agency_name,
        coalesce(population, 0)::bigint as population,
        population_served,
        covered_by_ori,
        is_covered_by_another_agency,
        root_ori,
        months_reported,
        -- a covered agency reports through its root; its own months (contract policing files
        -- under the city's ORI) still count when they are more
        case
            when root_ori is not null then greatest(months_reported, root_months_reported)
            else months_reported
        end as months_reported_effective,
        is_full_year,
        is_full_year and not is_covered_by_another_agency as is_full_year_reporter,
        incident_count
    from chained

)

select * from final
