{{ config(indexes=[{'columns': ['offense_code']}]) }}
{%- set years = nibrs_years_to_build() %}

with

offenses as (

    select * from {{ ref('stg_nibrs__offenses') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}

),

final as (

    select
        ---------- keys
        data_year,
        incident_key,
        offense_code,

        ---------- the offense, as codes (fct_nibrs_offenses_labelled decodes them)
        attempted_completed_code,
        location_type_code,
        premises_entered::smallint as premises_entered,
        method_of_entry_code,
        {%- for slot in range(1, 4) %}
        offender_suspected_of_using_{{ slot }},
        {%- endfor %}
        {%- for slot in range(1, 4) %}
        criminal_activity_{{ slot }},
        {%- endfor %}
        {%- for slot in range(1, 4) %}
        weapon_force_code_{{ slot }},
        is_automatic_weapon_{{ slot }},
        {%- endfor %}
        bias_motivation_code

    from offenses

)

select * from final
