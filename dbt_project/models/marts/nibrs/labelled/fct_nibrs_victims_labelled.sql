with

victims as (

    select * from {{ ref('fct_nibrs_victims') }}

),

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}

),

victim_types as (

    select * from {{ ref('nibrs_victim_types') }}

),

final as (

    select
        victims.*,

        ---------- the incident it belongs to
        incidents.ori,
        incidents.agency_ori,
        incidents.incident_date,

        ---------- the codes as lists, and labels
        string_to_array(victims.offense_codes, ',') as offense_code_list,
        string_to_array(victims.injury_codes, ',') as injury_code_list,
        coalesce(victims.injury_codes <> 'N', false) as is_injured,
        victim_types.victim_type_name,
        coalesce(victim_types.is_person, false) as is_person,
        sex.code_label as sex,
        race.code_label as race,
        ethnicity.code_label as ethnicity,
        resident.code_label as resident_status,
        circumstance_1.code_label as circumstance_1,
        circumstance_2.code_label as circumstance_2,
        justifiable.code_label as justifiable_homicide_circumstance,
        activity.code_label as leoka_officer_activity,
        assignment.code_label as leoka_officer_assignment

    from victims
    inner join incidents
        on
            victims.data_year = incidents.data_year
            and victims.incident_key = incidents.incident_key
    left join victim_types
        on victims.victim_type_code = victim_types.victim_type_code
    {{ nibrs_label_join('sex', 'victims.sex_code', 'sex') }}
    {{ nibrs_label_join('race', 'victims.race_code', 'race') }}
    {{ nibrs_label_join('ethnicity', 'victims.ethnicity_code', 'ethnicity') }}
    {{ nibrs_label_join('resident_status', 'victims.resident_status_code', 'resident') }}
    {{ nibrs_label_join('circumstance', 'victims.circumstance_code_1', 'circumstance_1') }}
    {{ nibrs_label_join('circumstance', 'victims.circumstance_code_2', 'circumstance_2') }}
    {{ nibrs_label_join(
        'justifiable_homicide_circumstance',
        'victims.justifiable_homicide_circumstance_code',
        'justifiable'
    ) }}
    {{ nibrs_label_join(
        'leoka_officer_activity', 'victims.leoka_officer_activity_code', 'activity'
    ) }}
    {{ nibrs_label_join(
        'leoka_officer_assignment', 'victims.leoka_officer_assignment_code', 'assignment'
    ) }}

)

select * from final
