with

offenses as (

    select * from {{ ref('fct_nibrs_offenses') }}

),

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}

),

offense_codes as (

    select * from {{ ref('nibrs_offense_codes') }}

),

location_types as (

    select * from {{ ref('nibrs_location_types') }}

),

weapon_codes as (

    select * from {{ ref('nibrs_weapon_force_codes') }}

),

bias_motivations as (

    select * from {{ ref('nibrs_bias_motivations') }}

),

final as (

    select
        offenses.*,

        ---------- the incident it belongs to
        incidents.ori,
        incidents.agency_ori,
        incidents.incident_date,
        -- clearance is incident-level (reference §6): the incident's outcome
        incidents.clearance_outcome,

        ---------- labels
        offense_codes.offense_name,
        offense_codes.offense_category,
        offense_codes.crime_against,
        offense_codes.index_crime_class,
        attempted.code_label as attempted_completed,
        offenses.attempted_completed_code = 'C' as is_completed,
        location_types.location_type_name,
        entry.code_label as method_of_entry,
        {%- for slot in range(1, 4) %}
        weapon_{{ slot }}.weapon_force_name as weapon_force_name_{{ slot }},
        {%- endfor %}
        coalesce(weapon_1.is_firearm, false)
        or coalesce(weapon_2.is_firearm, false)
        or coalesce(weapon_3.is_firearm, false) as has_firearm,
        bias_motivations.bias_motivation_name,
        bias_motivations.bias_category

    from offenses
    inner join incidents
        on
            offenses.data_year = incidents.data_year
            and offenses.incident_key = incidents.incident_key
    left join offense_codes
        on offenses.offense_code = offense_codes.offense_code
    left join location_types
        on offenses.location_type_code = location_types.location_type_code
    {%- for slot in range(1, 4) %}
    left join weapon_codes as weapon_{{ slot }}
        on offenses.weapon_force_code_{{ slot }} = weapon_{{ slot }}.weapon_force_code
    {%- endfor %}
    left join bias_motivations
        on offenses.bias_motivation_code = bias_motivations.bias_motivation_code
    {{ nibrs_label_join('attempted_completed', 'offenses.attempted_completed_code', 'attempted') }}
    {{ nibrs_label_join('method_of_entry', 'offenses.method_of_entry_code', 'entry') }}

)

select * from final
