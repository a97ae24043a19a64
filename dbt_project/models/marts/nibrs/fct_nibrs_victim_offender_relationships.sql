{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='data_year',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['data_year', 'source_loaded_at']}],
    )
}}
{%- set years = nibrs_years_to_build() %}

with

victims as (

    select * from {{ ref('stg_nibrs__victims') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

year_loads as (

    {{ nibrs_year_loads(years) }}

),

relationships as (

    select * from {{ ref('nibrs_relationship_codes') }}

),

unpivoted as (

    -- the victim's ten (offender number, relationship) slots, one row each when used
    {%- for slot in range(1, 11) %}
    select
        data_year,
        incident_id,
        victim_id,
        ori,
        agency_ori,
        {{ slot }} as relationship_slot,
        offender_number_related_{{ slot }} as offender_sequence_number,
        relationship_code_{{ slot }} as relationship_code
    from victims
    where offender_number_related_{{ slot }} is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        unpivoted.victim_id || '|' || unpivoted.relationship_slot::text as relationship_id,
        unpivoted.victim_id,
        unpivoted.incident_id,
        unpivoted.data_year,
        unpivoted.ori,
        unpivoted.agency_ori,
        unpivoted.relationship_slot,
        unpivoted.offender_sequence_number,
        -- 00: the offender is unknown, and so is the relationship
        case
            when unpivoted.offender_sequence_number > 0
                then unpivoted.incident_id || '|' || unpivoted.offender_sequence_number::text
        end as offender_id,
        unpivoted.relationship_code,
        relationships.relationship_name,
        relationships.relationship_group,
        relationships.harmonized_group,
        year_loads.source_loaded_at
    from unpivoted
    inner join year_loads
        on unpivoted.data_year = year_loads.data_year
    left join relationships
        on unpivoted.relationship_code = relationships.relationship_code

)

select * from final
