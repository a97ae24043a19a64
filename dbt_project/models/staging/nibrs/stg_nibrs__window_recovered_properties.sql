with

source as (

    select * from {{ source('nibrs', 'window_recovered_property') }}

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

        ---------- the property recovered
        {{ nibrs_text('type_property_loss') }} as loss_type_code,
        {{ nibrs_text('property_description') }} as property_description_code,
        case
            when {{ nibrs_integer('property_value') }} <> 1
                then {{ nibrs_integer('property_value') }}
        end as property_value,
        coalesce({{ nibrs_integer('property_value') }} = 1, false) as is_property_value_unknown,
        {{ nibrs_date('date_recovered') }} as date_recovered,
        {{ nibrs_integer('num_recovered_motor_vehicles') }} as recovered_motor_vehicles,
        array_remove(array[
            {%- for slot in range(1, 11) %}
            {{ nibrs_code('w3_ucr_offense_code_' ~ slot) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        ], null)::text[] as offense_codes,

        ---------- lineage
        _partition,
        line_number,
        _load_id,
        _loaded_at

    from source
    where {{ nibrs_text('ori') }} is not null and {{ nibrs_text('incident_number') }} is not null

),

deduplicated as (

    {{ first_line_per_key('renamed', [
        '_partition',
        'data_year',
        'ori',
        'incident_number',
        'loss_type_code',
        'property_description_code'
    ]) }}

)

select * from deduplicated
