-- One row per incident: its victims (04) and how the first victim knew the first offender.
-- Every CTE is read once, so a mart's filter on the year reaches the raw table.

with

victims as (

    select * from {{ ref('stg_nibrs__victims') }}

),

victim_types as (

    select * from {{ ref('nibrs_victim_types') }}

),

relationships as (

    select * from {{ ref('nibrs_relationship_codes') }}

),

aggregated as (

    select
        victims._partition,
        victims.data_year,
        victims.incident_id,
        count(*)::integer as victim_count,
        count(*) filter (where victim_types.is_person)::integer as person_victim_count,
        coalesce(bool_or(victims.victim_type_code = 'B'), false) as has_business_victim,
        coalesce(bool_or(victims.victim_type_code = 'L'), false) as has_officer_victim,
        min(victims.age_years) filter (where victim_types.is_person) as youngest_victim_age,
        coalesce(
            bool_or(victims.age_years < 18) filter (where victim_types.is_person), false
        ) as has_juvenile_victim,
        coalesce(
            bool_or(
                cardinality(victims.injury_codes) > 0
                and victims.injury_codes <> array['N']::text[]
            ),
            false
        ) as has_injured_victim,
        -- the lowest-numbered victim's first recorded relationship
        (array_agg(
            relationships.harmonized_group order by victims.victim_sequence_number asc
        ) filter (where relationships.harmonized_group is not null))[1] as relationship_group
    from victims
    left join victim_types
        on victims.victim_type_code = victim_types.victim_type_code
    left join relationships
        on victims.relationship_code_1 = relationships.relationship_code
    group by victims._partition, victims.data_year, victims.incident_id

)

select * from aggregated
