{%- set years = nibrs_years_to_build() %}

with

victims as (

    select * from {{ ref('stg_nibrs__victims') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

slots as (

    -- the victim's ten (offender number, relationship) slots, one row each when used:
    -- one pass over the victims, not one per slot
    select
        victims.data_year,
        victims.incident_key,
        victims.victim_sequence_number::smallint as victim_sequence_number,
        used.relationship_slot::smallint as relationship_slot,
        used.offender_sequence_number::smallint as offender_sequence_number,
        used.relationship_code
    from victims
    cross join
        lateral (
            values
            {%- for slot in range(1, 11) %}
            (
                {{ slot }},
                victims.offender_number_related_{{ slot }},
                victims.relationship_code_{{ slot }}
            ){% if not loop.last %},{% endif %}
            {%- endfor %}
        ) as used (relationship_slot, offender_sequence_number, relationship_code)
    where used.offender_sequence_number is not null

),

final as (

    select
        ---------- keys
        data_year,
        incident_key,
        victim_sequence_number,
        relationship_slot,

        ---------- the offender (00: unknown, and so is the relationship) and what the
        -- victim was to them
        offender_sequence_number,
        relationship_code

    from slots

)

select * from final
