with

properties as (

    select * from {{ ref('fct_nibrs_properties') }}

),

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}

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
        properties.*,

        ---------- the incident it belongs to
        incidents.ori,
        incidents.agency_ori,
        incidents.incident_date,

        ---------- labels
        loss_types.loss_type_name,
        descriptions.property_description_name,
        {%- for slot in range(1, 4) %}
        drug_{{ slot }}.drug_type_name as drug_type_{{ slot }}{% if not loop.last %},{% endif %}
        {%- endfor %}

    from properties
    inner join incidents
        on
            properties.data_year = incidents.data_year
            and properties.incident_key = incidents.incident_key
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
