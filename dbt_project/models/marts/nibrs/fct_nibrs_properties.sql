{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='data_year',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['data_year', 'source_loaded_at']},
            {'columns': ['incident_id']},
        ],
    )
}}
{%- set years = nibrs_years_to_build() %}

with

properties as (

    select * from {{ ref('stg_nibrs__properties') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

year_loads as (

    {{ nibrs_year_loads(years) }}

),

loss_types as (

    select * from {{ ref('nibrs_property_loss_types') }}

),

descriptions as (

    select * from {{ ref('nibrs_property_descriptions') }}

),

drug_types as (

    select * from {{ ref('nibrs_drug_types') }}

),

final as (

    select
        ---------- keys
        properties.property_id,
        properties.incident_id,
        properties.data_year,
        properties.ori,
        properties.agency_ori,
        properties.incident_date,

        ---------- the property
        properties.loss_type_code,
        loss_types.loss_type_name,
        properties.property_description_code,
        descriptions.property_description_name,
        properties.property_value,
        properties.is_property_value_unknown,
        properties.date_recovered,
        properties.stolen_motor_vehicles,
        properties.recovered_motor_vehicles,

        ---------- drugs
        {%- for slot in range(1, 4) %}
        properties.drug_type_code_{{ slot }},
        drug_{{ slot }}.drug_type_name as drug_type_{{ slot }},
        properties.drug_quantity_{{ slot }},
        properties.drug_measurement_code_{{ slot }},
        {%- endfor %}

        ---------- lineage
        year_loads.source_loaded_at

    from properties
    inner join year_loads
        on properties.data_year = year_loads.data_year
    left join loss_types
        on properties.loss_type_code = loss_types.loss_type_code
    left join descriptions
        on properties.property_description_code = descriptions.property_description_code
    {%- for slot in range(1, 4) %}
    left join drug_types as drug_{{ slot }}
        on properties.drug_type_code_{{ slot }} = drug_{{ slot }}.drug_type_code
    {%- endfor %}

)

select * from final
