with

arrestees as (

    select * from {{ ref('fct_nibrs_arrestees') }}

),

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}

),

final as (

    select
        arrestees.*,

        ---------- the incident it belongs to
        incidents.ori,
        incidents.agency_ori,
        incidents.incident_date,

        ---------- labels
        {{ nibrs_arrestee_labels('arrestees') }},
        multiple.code_label as multiple_arrestee

    from arrestees
    inner join incidents
        on
            arrestees.data_year = incidents.data_year
            and arrestees.incident_key = incidents.incident_key
    {{ nibrs_arrestee_joins('arrestees') }}
    {{ nibrs_label_join(
        'multiple_arrestee_indicator', 'arrestees.multiple_arrestee_indicator', 'multiple'
    ) }}

)

select * from final
