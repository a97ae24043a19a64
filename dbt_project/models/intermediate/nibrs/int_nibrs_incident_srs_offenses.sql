-- Each incident's Summary (SRS) Part I offenses and arson, counted in the FBI's units, with
-- the one the hierarchy rule keeps (reference §2.1-2.3; seed nibrs_srs_offense_map).

with

offenses as (

    select * from {{ ref('fct_nibrs_offenses') }}

),

victims as (

    select * from {{ ref('fct_nibrs_victims') }}

),

properties as (

    select * from {{ ref('fct_nibrs_properties') }}

),

srs_map as (

    select * from {{ ref('nibrs_srs_offense_map') }}

),

offense_classes as (

    -- an incident's offense records by SRS offense (23A and 23H are one larceny)
    select
        offenses.data_year,
        offenses.incident_key,
        srs_map.srs_offense,
        min(srs_map.hierarchy_rank) as hierarchy_rank,
        bool_or(srs_map.is_hierarchy_exempt) as is_hierarchy_exempt,
        min(srs_map.count_unit) as count_unit,
        count(*)::integer as offense_record_count,
        -- the hotel rule of the conversion: burglaries of rental storage count the premises
        -- entered, any other burglary one
        max(
            case when offenses.location_type_code = '19' then offenses.premises_entered end
        ) as storage_premises_entered
    from offenses
    inner join srs_map
        on offenses.offense_code = srs_map.nibrs_code
    group by offenses.data_year, offenses.incident_key, srs_map.srs_offense

),

victim_offenses as (

    select
        victims.data_year,
        victims.incident_key,
        victims.victim_sequence_number,
        victim_offense.offense_code
    from victims
    cross join lateral unnest(string_to_array(victims.offense_codes, ',')) as victim_offense (
        offense_code
    )

),

linked_victims as (

    -- victims connected to any of the offense's codes (rape: any of 11A, 11B, 11C), each once
    select
        victim_offenses.data_year,
        victim_offenses.incident_key,
        srs_map.srs_offense,
        count(distinct victim_offenses.victim_sequence_number)::integer as victim_count
    from victim_offenses
    inner join srs_map
        on victim_offenses.offense_code = srs_map.nibrs_code
    group by victim_offenses.data_year, victim_offenses.incident_key, srs_map.srs_offense

),

stolen_vehicles as (

    select
        data_year,
        incident_key,
        sum(coalesce(stolen_motor_vehicles, 0))::integer as stolen_vehicle_count
    from properties
    where loss_type_code = '7'
    group by data_year, incident_key

),

counted as (

    select
        offense_classes.data_year,
        offense_classes.incident_key,
        offense_classes.srs_offense,
        offense_classes.hierarchy_rank,
        offense_classes.is_hierarchy_exempt,
        offense_classes.count_unit,
        offense_classes.offense_record_count,
        case offense_classes.count_unit
            when 'victims' then coalesce(linked_victims.victim_count, 0)
            when 'premises'
                then greatest(coalesce(offense_classes.storage_premises_entered, 1), 1)
            when 'vehicles' then greatest(coalesce(stolen_vehicles.stolen_vehicle_count, 0), 1)
            else 1
        end as offense_unit_count
    from offense_classes
    left join linked_victims
        on
            offense_classes.data_year = linked_victims.data_year
            and offense_classes.incident_key = linked_victims.incident_key
            and offense_classes.srs_offense = linked_victims.srs_offense
    left join stolen_vehicles
        on
            offense_classes.data_year = stolen_vehicles.data_year
            and offense_classes.incident_key = stolen_vehicles.incident_key

),

ranked as (

    select
        *,
        row_number() over (
            partition by data_year, incident_key, is_hierarchy_exempt
            order by hierarchy_rank
        ) as rank_in_incident
    from counted

),

final as (

    select
        data_year,
        incident_key,
        srs_offense,
        hierarchy_rank,
        is_hierarchy_exempt,
        count_unit,
        offense_record_count,
        offense_unit_count,
        -- the hierarchy keeps the most serious Part I offense; arson is counted beside it
        is_hierarchy_exempt or rank_in_incident = 1 as is_scored_by_hierarchy
    from ranked

)

select * from final
