{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='data_year',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['data_year', 'source_loaded_at']},
            {'columns': ['incident_id']},
        ],
    )
}}
{%- set years = nibrs_years_to_build() %}

with

offenses as (

    select * from {{ ref('stg_nibrs__offenses') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

incidents as (

    select
        data_year,
        incident_id,
        clearance_outcome
    from {{ ref('fct_nibrs_incidents') }}
    where {{ nibrs_year_filter(years) }}

),

year_loads as (

    {{ nibrs_year_loads(years) }}

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
        ---------- keys
        offenses.offense_id,
        offenses.incident_id,
        offenses.data_year,
        offenses.ori,
        offenses.agency_ori,
        offenses.incident_date,

        ---------- the offense
        offenses.offense_code,
        offense_codes.offense_name,
        offense_codes.offense_category,
        offense_codes.crime_against,
        offense_codes.index_crime_class,
        offenses.attempted_completed_code,
        attempted.code_label as attempted_completed,
        offenses.attempted_completed_code = 'C' as is_completed,
        offenses.location_type_code,
        location_types.location_type_name,
        offenses.premises_entered,
        offenses.method_of_entry_code,
        entry.code_label as method_of_entry,
        {%- for slot in range(1, 4) %}
        offenses.offender_suspected_of_using_{{ slot }},
        {%- endfor %}
        {%- for slot in range(1, 4) %}
        offenses.criminal_activity_{{ slot }},
        {%- endfor %}
        {%- for slot in range(1, 4) %}
        offenses.weapon_force_code_{{ slot }},
        weapon_{{ slot }}.weapon_force_name as weapon_force_name_{{ slot }},
        offenses.is_automatic_weapon_{{ slot }},
        {%- endfor %}
        coalesce(weapon_1.is_firearm, false)
        or coalesce(weapon_2.is_firearm, false)
        or coalesce(weapon_3.is_firearm, false) as has_firearm,
        offenses.bias_motivation_code,
        bias_motivations.bias_motivation_name,
        bias_motivations.bias_category,

        ---------- the incident's outcome: clearance is incident-level (reference §6)
        incidents.clearance_outcome,

        ---------- lineage
        year_loads.source_loaded_at

    from offenses
    inner join year_loads
        on offenses.data_year = year_loads.data_year
    left join incidents
        on
            offenses.data_year = incidents.data_year
            and offenses.incident_id = incidents.incident_id
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
