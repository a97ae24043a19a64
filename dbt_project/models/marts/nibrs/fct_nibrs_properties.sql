{%- set years = nibrs_years_to_build() %}

with

properties as (

    select * from {{ ref('stg_nibrs__properties') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

final as (

    select
        ---------- keys: one 03 per (loss type, property description) of an incident
        data_year,
        incident_key,
        loss_type_code,
        property_description_code,

        ---------- the property
        property_value,
        is_property_value_unknown,
        date_recovered,
        stolen_motor_vehicles::smallint as stolen_motor_vehicles,
        recovered_motor_vehicles::smallint as recovered_motor_vehicles,

        ---------- drugs
        {%- for slot in range(1, 4) %}
        drug_type_code_{{ slot }},
        drug_quantity_{{ slot }},
        drug_measurement_code_{{ slot }}{% if not loop.last %},{% endif %}
        {%- endfor %}

    from properties

)

select * from final
