with

source as (

    select * from {{ source('nibrs', 'window_exceptional_clearance') }}

),

renamed as (

    select
        ---------- keys: window records belong to incidents that are not in the file
        {{ nibrs_incident_key('data_year', nibrs_code('ori'), nibrs_text('incident_number')) }}
            as incident_key,
        data_year::integer as data_year,
        {{ nibrs_code('ori') }} as ori,
        {{ nibrs_text('incident_number') }} as incident_number,
        coalesce({{ nibrs_code('bh_ori') }}, {{ nibrs_code('ori') }}) as agency_ori,
        -- often years before the file's year
        {{ nibrs_date('incident_date') }} as incident_date,
        coalesce(upper(btrim(report_date_indicator)) = 'R', false) as is_report_date,

        ---------- the clearance
        {{ nibrs_code('cleared_exceptionally') }} as cleared_exceptionally_code,
        {{ nibrs_date('exceptional_clearance_date') }} as exceptional_clearance_date,
        array_remove(array[
            {%- for slot in range(1, 11) %}
            {{ nibrs_code('w1_ucr_offense_code_' ~ slot) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        ], null)::text[] as offense_codes,
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

    {{ first_line_per_key('renamed', ['_partition', 'data_year', 'ori', 'incident_number']) }}

)

select * from deduplicated
