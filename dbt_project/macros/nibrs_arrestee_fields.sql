{#-
    The arrestee fields that 06 (arrestee), W6 (window arrestee) and 07 (Group B arrest)
    share. Vermont's 2015 13-character transaction numbers are already re-sliced by the
    decoder (configuration/nibrs_layouts.yml, variants), so they arrive here whole.
-#}
{% macro nibrs_arrestee_fields() -%}
        {{ nibrs_integer('arrestee_sequence_number') }} as arrestee_sequence_number,
        {{ nibrs_text('arrest_transaction_number') }} as arrest_transaction_number,
        {{ nibrs_date('arrest_date') }} as arrest_date,
        {{ nibrs_code('type_of_arrest') }} as arrest_type_code,
        {{ nibrs_code('arrest_offense_code') }} as arrest_offense_code,
        {%- for slot in range(1, 3) %}
        {{ nibrs_text('armed_with_' ~ slot) }} as armed_with_code_{{ slot }},
        coalesce(upper(btrim(automatic_{{ slot }})) = 'A', false) as is_automatic_weapon_{{ slot }},
        {%- endfor %}
        {{ nibrs_code('arrestee_age') }} as age_code,
        {{ nibrs_age_years('arrestee_age') }} as age_years,
        {{ nibrs_sex('arrestee_sex') }} as sex_code,
        {{ nibrs_race('arrestee_race') }} as race_code,
        {{ nibrs_code('arrestee_ethnicity') }} as ethnicity_code,
        {{ nibrs_code('arrestee_resident_status') }} as resident_status_code,
        {{ nibrs_code('under18_disposition') }} as under18_disposition_code
{%- endmacro %}

{#-
    The same fields as the arrestee facts store them (fct_nibrs_arrestees,
    fct_nibrs_group_b_arrests): codes in narrow types, no labels.
-#}
{% macro nibrs_arrestee_fact_columns() -%}
        arrest_date,
        arrest_type_code,
        arrest_offense_code,
        {%- for slot in range(1, 3) %}
        armed_with_code_{{ slot }},
        is_automatic_weapon_{{ slot }},
        {%- endfor %}
        age_code,
        age_years::smallint as age_years,
        sex_code,
        race_code,
        ethnicity_code,
        resident_status_code,
        under18_disposition_code
{%- endmacro %}
