with

source as (

    select * from {{ source('nibrs', 'window_arrestee') }}

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
        {{ nibrs_date('incident_date') }} as incident_date,

        ---------- the arrest and the arrestee
        {{ nibrs_arrestee_fields() }},
        {{ nibrs_code('multiple_arrestee_indicator') }} as multiple_arrestee_indicator,
        -- Y: this arrest clears the original incident; N: it was already cleared
        {{ nibrs_flag('w6_window_clearance_flag') }} as clears_incident,
        array_remove(array[
            {%- for slot in range(1, 11) %}
            {{ nibrs_code('w6_ucr_offense_code_' ~ slot) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        ], null)::text[] as offense_codes,

        ---------- lineage
        _partition,
        line_number,
        _load_id,
        _loaded_at

    from source
    where
        {{ nibrs_text('ori') }} is not null
        and {{ nibrs_text('incident_number') }} is not null
        and {{ nibrs_integer('arrestee_sequence_number') }} is not null

),

deduplicated as (

    {{ first_line_per_key(
        'renamed',
        ['_partition', 'data_year', 'ori', 'incident_number', 'arrestee_sequence_number'],
    ) }}

)

select * from deduplicated
