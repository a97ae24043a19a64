-- One row per incident with property records (03): the value reported stolen or damaged.

with

properties as (

    select * from {{ ref('stg_nibrs__properties') }}

)

select
    _partition,
    data_year,
    incident_id,
    count(*)::integer as property_record_count,
    -- loss type 7 = stolen; the "unknown value" sentinel is already null
    coalesce(sum(property_value) filter (where loss_type_code = '7'), 0)::bigint
        as stolen_property_value,
    coalesce(sum(property_value) filter (where loss_type_code = '4'), 0)::bigint
        as damaged_property_value,
    coalesce(bool_or(is_property_value_unknown), false) as has_unknown_property_value,
    coalesce(bool_or(loss_type_code = '6' and property_description_code = '10'), false)
        as has_drugs_seized
from properties
group by _partition, data_year, incident_id
