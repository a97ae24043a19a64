-- the contract's column `source` is a keyword to sqlfluff (RF04, excused where it is named)
with

agency_years as (

    select * from {{ ref('fct_nibrs_agency_years') }}

),

batch_headers as (

    select
        data_year,
        ori,
        date_ori_went_nibrs
    from {{ ref('stg_nibrs__batch_headers') }}

),

state_coverage as (

    select * from {{ ref('agg_nibrs_coverage_state_years') }}

),

notes as (

    select * from {{ ref('nibrs_comparability_notes') }}

),

distinct_years as (

    select distinct data_year from agency_years

),

loaded_years as (

    select
        data_year,
        lag(data_year) over (order by data_year) as previous_loaded_year
    from distinct_years

),

first_reporting_years as (

    select
        ori,
        min(data_year) as first_reporting_year
    from agency_years
    where months_reported > 0
    group by ori

),

state_years as (

    select distinct
        data_year,
        state_abbreviation
    from agency_years
    where state_abbreviation is not null

),

reference_notes as (

    select
        state_years.data_year,
        state_years.state_abbreviation,
        null::text as ori,
        'nation' as scope,
        notes.note_kind as kind,
        notes.note,
        'reference' as origin,
        notes.source
    from state_years
    inner join notes
        on state_years.data_year between notes.first_year and coalesce(notes.last_year, 9999)

),

first_reports as (

    -- reported for the first time among the years loaded, the first loaded year aside
    select
        agency_years.data_year,
        agency_years.state_abbreviation,
        agency_years.ori,
        'agency' as scope,
        'agency_first_reports' as kind,
        coalesce(agency_years.agency_name, agency_years.ori)
        || ' sends NIBRS data for the first time among the years loaded'
        || ' (none in ' || loaded_years.previous_loaded_year::text
        || ' or before): it switched from SRS or joined, and its counts join the totals.' as note,
        'loaded_files' as origin,
        'fct_nibrs_agency_years' as source  -- noqa: RF04
    from agency_years
    inner join loaded_years
        on agency_years.data_year = loaded_years.data_year
    inner join first_reporting_years
        on
            agency_years.ori = first_reporting_years.ori
            and agency_years.data_year = first_reporting_years.first_reporting_year
    where loaded_years.previous_loaded_year is not null

),

transition_years as (

    -- NIBRS starts on the first of a month: the months before are in SRS (reference §7.5)
    select
        agency_years.data_year,
        agency_years.state_abbreviation,
        agency_years.ori,
        'agency' as scope,
        'agency_transition_year' as kind,
        coalesce(agency_years.agency_name, agency_years.ori) || ' started NIBRS on '
        || to_char(batch_headers.date_ori_went_nibrs, 'YYYY-MM-DD')
        || ': its earlier months of the year are in SRS, not in this file.' as note,
        'loaded_files' as origin,
        'stg_nibrs__batch_headers.date_ori_went_nibrs' as source  -- noqa: RF04
    from agency_years
    inner join batch_headers
        on
            agency_years.data_year = batch_headers.data_year
            and agency_years.ori = batch_headers.ori
    where
        extract(year from batch_headers.date_ori_went_nibrs) = agency_years.data_year
        and batch_headers.date_ori_went_nibrs > make_date(agency_years.data_year, 1, 1)

),

stopped as (

    -- reported in the previous year (loaded) and nothing this year
    select
        agency_years.data_year,
        agency_years.state_abbreviation,
        agency_years.ori,
        'agency' as scope,
        'agency_stopped_reporting' as kind,
        coalesce(agency_years.agency_name, agency_years.ori)
        || ' reported in '
        || (agency_years.data_year - 1)::text
        || ' but no month in ' || agency_years.data_year::text
        || ': its crimes are missing from this year''s totals.' as note,
        'loaded_files' as origin,
        'fct_nibrs_agency_years' as source  -- noqa: RF04
    from agency_years
    inner join agency_years as previous
        on
            agency_years.ori = previous.ori
            and agency_years.data_year - 1 = previous.data_year
    where
        agency_years.months_reported = 0
        and previous.months_reported > 0
        and not agency_years.is_covered_by_another_agency

),

states as (

    select distinct state_abbreviation from state_years

),

state_reporting as (

    select
        data_year,
        state_abbreviation,
        bool_or(months_reported > 0) as has_reporting_agency
    from agency_years
    group by data_year, state_abbreviation

),

missing_states as (

    -- a state seen in some loaded year with no agency reporting in this one
    select
        loaded_years.data_year,
        states.state_abbreviation,
        null::text as ori,
        'state' as scope,
        'state_missing' as kind,
        'No agency of ' || states.state_abbreviation || ' sent NIBRS data for '
        || loaded_years.data_year::text
        || ' (the state has agencies in other years loaded): it is missing from the totals.'
            as note,
        'loaded_files' as origin,
        'fct_nibrs_agency_years' as source  -- noqa: RF04
    from loaded_years
    cross join states
    left join state_reporting
        on
            loaded_years.data_year = state_reporting.data_year
            and states.state_abbreviation = state_reporting.state_abbreviation
    where not coalesce(state_reporting.has_reporting_agency, false)

),

low_coverage as (

    select
        data_year,
        state_abbreviation,
        null::text as ori,
        'state' as scope,
        'state_low_coverage' as kind,
        'Reporting agencies cover ' || coverage_indicator::text
        || '% of the population in ' || state_abbreviation || ' (coverage tier 3, below 80):'
        || ' totals and rates describe the reporting agencies, not the state.' as note,
        'loaded_files' as origin,
        'agg_nibrs_coverage_state_years' as source  -- noqa: RF04
    from state_coverage
    where coverage_tier = 3

),

stacked as (

    select * from reference_notes
    union all
    select * from first_reports
    union all
    select * from transition_years
    union all
    select * from stopped
    union all
    select * from missing_states
    union all
    select * from low_coverage

),

final as (

    select
        md5(concat_ws('|', data_year, state_abbreviation, coalesce(ori, ''), kind)) as caveat_id,
        data_year,
        state_abbreviation,
        ori,
        scope,
        kind,
        note,
        origin,
        source
    from stacked

)

select * from final
