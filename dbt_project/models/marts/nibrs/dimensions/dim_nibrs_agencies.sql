-- One row per agency (ORI) that appears in any loaded year, described by its latest batch header.

with

batch_headers as (

    select * from {{ ref('stg_nibrs__batch_headers') }}

),

states as (

    select * from {{ ref('nibrs_states') }}

),

population_groups as (

    select * from {{ ref('nibrs_population_groups') }}

),

agency_types as (

    select * from {{ ref('nibrs_agency_types') }}

),

latest as (

    select distinct on (ori) *
    from batch_headers
    order by ori asc, data_year desc

),

years as (

    select
        ori,
        min(data_year) as first_data_year,
        max(data_year) as last_data_year,
        count(*)::integer as years_in_file
    from batch_headers
    group by ori

),

final as (

    select
        ---------- key
        latest.ori,

        ---------- identity
        latest.agency_name,
        latest.state_code,
        coalesce(latest.state_abbreviation, states.state_abbreviation) as state_abbreviation,
        states.state_name,
        latest.agency_type_code,
        agency_types.agency_type_name,
        latest.population_group,
        population_groups.population_group_name,
        population_groups.population_group_class,
        latest.country_region,
        latest.country_division,
        latest.is_core_city,
        latest.fbi_field_office,
        latest.judicial_district,
        latest.ucr_county_code_1,
        latest.fips_county_code_1,
        latest.msa_code_1,

        ---------- coverage: a covered agency's data is reported by another agency
        latest.covered_by_ori,
        coalesce(latest.agency_type_code = '0' or latest.covered_by_ori is not null, false)
            as is_covered_by_another_agency,

        ---------- population of the latest year, its county portions summed
        latest.population,
        latest.population_source,
        latest.data_year as population_year,

        ---------- participation
        latest.is_nibrs_active,
        latest.date_ori_went_nibrs,
        latest.agency_inactive_date,
        years.first_data_year,
        years.last_data_year,
        years.years_in_file

    from latest
    inner join years
        on latest.ori = years.ori
    left join states
        on latest.state_code = states.state_code
    left join population_groups
        on latest.population_group = population_groups.population_group_code
    left join agency_types
        on latest.agency_type_code = agency_types.agency_type_code

)

select * from final
