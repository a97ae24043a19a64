with

source as (

    select * from {{ source('nibrs', 'administrative') }}

),

renamed as (

    select
        ---------- keys
        {{ nibrs_incident_key('data_year', nibrs_code('ori'), nibrs_text('incident_number')) }}
            as incident_key,
        data_year::integer as data_year,
        {{ nibrs_code('ori') }} as ori,
        {{ nibrs_text('incident_number') }} as incident_number,
        -- records belong to the batch header they follow (reference §1.4)
        coalesce({{ nibrs_code('bh_ori') }}, {{ nibrs_code('ori') }}) as agency_ori,
        {{ nibrs_text('state_code') }} as state_code,

        ---------- when
        {{ nibrs_date('incident_date') }} as incident_date,
        coalesce(upper(btrim(report_date_indicator)) = 'R', false) as is_report_date,
        case
            when {{ nibrs_integer('incident_hour') }} between 0 and 23
                then {{ nibrs_integer('incident_hour') }}
        end as incident_hour,

        ---------- counts the 01 declares for its child records
        {{ nibrs_integer('total_offense_segments') }} as declared_offense_count,
        {{ nibrs_integer('total_victim_segments') }} as declared_victim_count,
        {{ nibrs_integer('total_offender_segments') }} as declared_offender_count,
        {{ nibrs_integer('total_arrestee_segments') }} as declared_arrestee_count,

        ---------- clearance
        {{ nibrs_code('cleared_exceptionally') }} as cleared_exceptionally_code,
        {{ nibrs_date('exceptional_clearance_date') }} as exceptional_clearance_date,

        ---------- other
        {{ nibrs_text('city_submission') }} as city_submission,
        {{ nibrs_flag('cargo_theft_indicator') }} as is_cargo_theft,

        ---------- lineage
        _partition,
        line_number,
        _load_id,
        _loaded_at

    from source
    where {{ nibrs_text('ori') }} is not null and {{ nibrs_text('incident_number') }} is not null

),

deduplicated as (

    -- one 01 per incident; a repeated one (not expected) loses to the first
    {{ first_line_per_key('renamed', ['_partition', 'data_year', 'ori', 'incident_number']) }}

)

select * from deduplicated
