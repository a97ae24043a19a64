with

source as (

    select * from {{ source('nibrs', 'property') }}

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

        ---------- the property
        {{ nibrs_text('type_property_loss') }} as loss_type_code,
        {{ nibrs_text('property_description') }} as property_description_code,
        -- whole dollars; 000000001 is the FBI's "value unknown" (reference §1.2)
        case
            when {{ nibrs_integer('property_value') }} <> 1
                then {{ nibrs_integer('property_value') }}
        end as property_value,
        coalesce({{ nibrs_integer('property_value') }} = 1, false) as is_property_value_unknown,
        {{ nibrs_date('date_recovered') }} as date_recovered,
        {{ nibrs_integer('num_stolen_motor_vehicles') }} as stolen_motor_vehicles,
        {{ nibrs_integer('num_recovered_motor_vehicles') }} as recovered_motor_vehicles,

        ---------- up to three drugs: quantity = whole units + thousandths (§3.5)
        {%- for slot in range(1, 4) %}
        {{ nibrs_code('suspected_drug_type_' ~ slot) }} as drug_type_code_{{ slot }},
        {{ nibrs_code('drug_measurement_' ~ slot) }} as drug_measurement_code_{{ slot }},
        case
            -- XX: not reported, the quantity is a placeholder 1
            when {{ nibrs_code('drug_measurement_' ~ slot) }} = 'XX' then null
            when {{ nibrs_integer('est_drug_quantity_' ~ slot) }} is not null
                then (
                    {{ nibrs_integer('est_drug_quantity_' ~ slot) }}::numeric
                    + coalesce({{ nibrs_integer('est_drug_quantity_thousandths_' ~ slot) }}, 0)
                    / 1000.0
                )::numeric(13, 3)
        end as drug_quantity_{{ slot }},
        {%- endfor %}

        ---------- lineage
        _partition,
        line_number,
        _load_id,
        _loaded_at

    from source
    where {{ nibrs_text('ori') }} is not null and {{ nibrs_text('incident_number') }} is not null

),

-- one 03 per (loss type, property description) of an incident
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
