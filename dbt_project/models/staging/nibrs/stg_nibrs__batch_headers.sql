{%- set months = [
    'jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'
] -%}

with

source as (

    select * from {{ source('nibrs', 'batch_header') }}

),

renamed as (

    select
        ---------- keys
        data_year::integer as data_year,
        {{ nibrs_code('ori') }} as ori,
        {{ nibrs_code('segment_level') }} as segment_level,

        ---------- agency
        {{ nibrs_text('state_code') }} as state_code,
        {{ nibrs_code('state_abbr') }} as state_abbreviation,
        -- a typo in some years' names (reference §1.7)
        regexp_replace({{ nibrs_text('city_name') }}, '\mCONTY\M', 'COUNTY', 'gi') as agency_name,
        {{ nibrs_code('population_group') }} as population_group,
        {{ nibrs_text('country_division') }} as country_division,
        {{ nibrs_text('country_region') }} as country_region,
        {{ nibrs_text('agency_indicator') }} as agency_type_code,
        {{ nibrs_flag('core_city') }} as is_core_city,
        {{ nibrs_code('covered_by_ori') }} as covered_by_ori,
        {{ nibrs_text('fbi_field_office') }} as fbi_field_office,
        {{ nibrs_code('judicial_district') }} as judicial_district,
        coalesce(upper(btrim(agency_nibrs_flag)) = 'A', false) as is_nibrs_active,

        ---------- dates (they describe the agency when the file was extracted)
        {{ nibrs_date('date_ori_added') }} as date_ori_added,
        {{ nibrs_date('date_ori_went_nibrs') }} as date_ori_went_nibrs,
        {{ nibrs_date('agency_inactive_date') }} as agency_inactive_date,

        ---------- counties
        {%- for slot in range(1, 6) %}
        {{ nibrs_text('ucr_county_code_' ~ slot) }} as ucr_county_code_{{ slot }},
        {{ nibrs_text('fips_county_' ~ slot) }} as fips_county_code_{{ slot }},
        {{ nibrs_text('msa_code_' ~ slot) }} as msa_code_{{ slot }},
        {%- endfor %}

        ---------- population of the agency's portion of up to five counties
        {%- for slot in range(1, 6) %}
        {{ nibrs_integer('current_population_' ~ slot) }} as current_population_{{ slot }},
        {{ nibrs_integer('last_population_' ~ slot) }} as last_population_{{ slot }},
        {%- endfor %}

        ---------- reporting
        {{ nibrs_text('ind_01_06_12') }} as ind_01_06_12,
        {{ nibrs_integer('months_reported') }} as months_reported,
        {{ nibrs_integer('master_file_year') }} as master_file_year,
        {%- for month in months %}
        {{ nibrs_flag(month ~ '_zero_report') }} as {{ month }}_zero_report,
        {{ nibrs_flag(month ~ '_group_a_b') }} as {{ month }}_group_a_b,
        {{ nibrs_flag(month ~ '_window') }} as {{ month }}_window,
        {%- endfor %}

        ---------- lineage
        _partition,
        line_number,
        _load_id,
        _loaded_at

    from source
    -- BH (2013 on) or B1, which the decoder has already merged with its B2 and B3
    where segment_level in ('BH', 'B1') and {{ nibrs_text('ori') }} is not null

),

summed as (

    -- the county portions summed (null only when all five are blank)
    select
        *,
        case
            when
                num_nonnulls(
                    current_population_1, current_population_2, current_population_3,
                    current_population_4, current_population_5
                ) > 0
                then
                    coalesce(current_population_1, 0)::bigint
                    + coalesce(current_population_2, 0)
                    + coalesce(current_population_3, 0)
                    + coalesce(current_population_4, 0)
                    + coalesce(current_population_5, 0)
        end as current_population_total,
        case
            when
                num_nonnulls(
                    last_population_1, last_population_2, last_population_3,
                    last_population_4, last_population_5
                ) > 0
                then
                    coalesce(last_population_1, 0)::bigint
                    + coalesce(last_population_2, 0)
                    + coalesce(last_population_3, 0)
                    + coalesce(last_population_4, 0)
                    + coalesce(last_population_5, 0)
        end as last_population_total
    from renamed

),

populated as (

    select
        *,
        -- Current population is missing in the 2000 file; Kaplan uses the last census's
        -- figures for that year (reference §1.5), as for any header without current ones.
        case
            when data_year = 2000 or current_population_total is null
                then last_population_total
            else current_population_total
        end as population,
        case
            when data_year = 2000 or current_population_total is null
                then 'last_population'
            else 'current_population'
        end as population_source
    from summed

),

deduplicated as (

    -- one header per agency and year; a repeated one (not expected) loses to the first
    {{ first_line_per_key('populated', ['_partition', 'data_year', 'ori']) }}

)

select * from deduplicated
