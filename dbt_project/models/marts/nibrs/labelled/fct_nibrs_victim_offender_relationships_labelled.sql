with

relationships as (

    select * from {{ ref('fct_nibrs_victim_offender_relationships') }}

),

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}

),

relationship_codes as (

    select * from {{ ref('nibrs_relationship_codes') }}

),

final as (

    select
        relationships.*,

        ---------- the incident it belongs to
        incidents.ori,
        incidents.agency_ori,

        ---------- labels: the victim WAS the offender's <relationship>
        relationship_codes.relationship_name,
        relationship_codes.relationship_group,
        relationship_codes.harmonized_group

    from relationships
    inner join incidents
        on
            relationships.data_year = incidents.data_year
            and relationships.incident_key = incidents.incident_key
    left join relationship_codes
        on relationships.relationship_code = relationship_codes.relationship_code

)

select * from final
