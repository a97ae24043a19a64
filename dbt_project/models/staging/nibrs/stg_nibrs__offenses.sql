with

source as (

    select * from {{ source('nibrs', 'offense') }}

),

renamed as (

    select
        ---------- keys
        {{ nibrs_incident_key('data_year', nibrs_code('ori'), nibrs_text('incident_number')) }}
            as incident_key,
        data_year::integer as data_year,
        {{ nibrs_code('ori') }} as ori,
        {{ nibrs_text('incident_number') }} as incident_number,
        coalesce({{ nibrs_code('bh_ori') }}, {{ nibrs_code('ori') }}) as agency_ori,
        {{ nibrs_date('incident_date') }} as incident_date,

        ---------- the offense
        {{ nibrs_code('ucr_offense_code') }} as offense_code,
        {{ nibrs_code('attempted_completed') }} as attempted_completed_code,
        {%- for slot in range(1, 4) %}
        {{ nibrs_code('offender_suspected_of_using_' ~ slot) }}
            as offender_suspected_of_using_{{ slot }},
        {%- endfor %}
        {{ nibrs_text('location_type') }} as location_type_code,
        {{ nibrs_integer('premises_entered') }} as premises_entered,
        {{ nibrs_code('method_of_entry') }} as method_of_entry_code,
        {%- for slot in range(1, 4) %}
        {{ nibrs_code('criminal_activity_' ~ slot) }} as criminal_activity_{{ slot }},
        {%- endfor %}
        {%- for slot in range(1, 4) %}
        {{ nibrs_text('weapon_force_' ~ slot) }} as weapon_force_code_{{ slot }},
        coalesce(upper(btrim(automatic_{{ slot }})) = 'A', false) as is_automatic_weapon_{{ slot }},
        {%- endfor %}
        {{ nibrs_text('bias_motivation') }} as bias_motivation_code,

        ---------- lineage
        _partition,
        line_number,
        _load_id,
        _loaded_at

    from source
    where
        {{ nibrs_text('ori') }} is not null
        and {{ nibrs_text('incident_number') }} is not null
        and {{ nibrs_text('ucr_offense_code') }} is not null

),

-- one 02 per offense code of an incident (the FBI's rule); a repeat loses to the first
deduplicated as (

    {{ first_line_per_key(
        'renamed',
        ['_partition', 'data_year', 'ori', 'incident_number', 'offense_code'],
    ) }}

)

select * from deduplicated
