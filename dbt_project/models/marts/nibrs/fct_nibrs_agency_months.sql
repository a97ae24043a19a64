{%- set years = nibrs_years_to_build() %}

with

agency_months as (

    select * from {{ ref('int_nibrs_agency_months_unpivoted') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}
    where {{ nibrs_year_filter(years) }}

),

incidents_by_month as (

    -- incidents dated in the file's year; older ones (activity in this year) are left out
    select
        data_year,
        agency_ori,
        extract(month from incident_date)::integer as month_number,
        count(*)::integer as incident_count
    from incidents
    where extract(year from incident_date) = data_year
    group by data_year, agency_ori, extract(month from incident_date)

),

final as (

    select
        ---------- keys
        agency_months.data_year,
        agency_months.ori,
        agency_months.month_number::smallint as month_number,
        make_date(agency_months.data_year, agency_months.month_number, 1) as month_start,

        ---------- the batch header's flags for the month
        agency_months.zero_report_submitted,
        agency_months.group_a_b_submitted,
        agency_months.window_submitted,
        -- a month counts as reported when the agency sent data or a zero report
        -- (reference §1.5); null when the year's flags are blank
        case
            when
                agency_months.zero_report_submitted is not null
                or agency_months.group_a_b_submitted is not null
                then
                    coalesce(agency_months.zero_report_submitted, false)
                    or coalesce(agency_months.group_a_b_submitted, false)
        end as is_reported,

        ---------- what the file holds for the month
        coalesce(incidents_by_month.incident_count, 0) as incident_count,
        coalesce(incidents_by_month.incident_count, 0) > 0 as has_incidents

    from agency_months
    left join incidents_by_month
        on
            agency_months.data_year = incidents_by_month.data_year
            and agency_months.ori = incidents_by_month.agency_ori
            and agency_months.month_number = incidents_by_month.month_number

)

select * from final
