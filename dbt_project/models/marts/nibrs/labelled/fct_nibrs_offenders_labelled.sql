with

offenders as (

    select * from {{ ref('fct_nibrs_offenders') }}

),

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}

),

final as (

    select
        offenders.*,

        ---------- the incident it belongs to
        incidents.ori,
        incidents.agency_ori,
        incidents.incident_date,

        ---------- labels
        sex.code_label as sex,
        race.code_label as race,
        ethnicity.code_label as ethnicity

    from offenders
    inner join incidents
        on
            offenders.data_year = incidents.data_year
            and offenders.incident_key = incidents.incident_key
    {{ nibrs_label_join('sex', 'offenders.sex_code', 'sex') }}
    {{ nibrs_label_join('race', 'offenders.race_code', 'race') }}
    {{ nibrs_label_join('ethnicity', 'offenders.ethnicity_code', 'ethnicity') }}

)

select * from final
