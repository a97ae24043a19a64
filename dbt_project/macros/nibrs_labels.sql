{#-
    Decoded labels for the short code lists in seed nibrs_code_values: a left join per
    coded column, so a code outside the list keeps its row (with a null label).
-#}
{% macro nibrs_label_join(code_set, code_column, alias) -%}
    left join {{ ref('nibrs_code_values') }} as {{ alias }}
        on
            {{ alias }}.code_set = '{{ code_set }}'
            and {{ code_column }} = {{ alias }}.code
{%- endmacro %}

{#-
    The labels of the arrest and arrestee codes that fct_nibrs_arrestees and
    fct_nibrs_group_b_arrests share (their _labelled views), and the joins they need.
    `arrests` is the alias of the fact's rows.
-#}
{% macro nibrs_arrestee_labels(arrests) -%}
        arrest_type.code_label as arrest_type,
        arrest_offense.offense_name as arrest_offense_name,
        arrest_offense.offense_group as arrest_offense_group,
        arrest_offense.crime_against as arrest_offense_crime_against,
        {%- for slot in range(1, 3) %}
        armed_{{ slot }}.armed_with_name as armed_with_{{ slot }},
        {%- endfor %}
        coalesce(armed_1.is_firearm, false) or coalesce(armed_2.is_firearm, false)
            as is_armed_with_firearm,
        {{ arrests }}.age_years < 18 as is_juvenile,
        sex.code_label as sex,
        race.code_label as race,
        ethnicity.code_label as ethnicity,
        resident.code_label as resident_status,
        disposition.code_label as under18_disposition
{%- endmacro %}

{% macro nibrs_arrestee_joins(arrests) -%}
    left join {{ ref('nibrs_offense_codes') }} as arrest_offense
        on {{ arrests }}.arrest_offense_code = arrest_offense.offense_code
    {%- for slot in range(1, 3) %}
    left join {{ ref('nibrs_armed_with_codes') }} as armed_{{ slot }}
        on {{ arrests }}.armed_with_code_{{ slot }} = armed_{{ slot }}.armed_with_code
    {%- endfor %}
    {{ nibrs_label_join('arrest_type', arrests ~ '.arrest_type_code', 'arrest_type') }}
    {{ nibrs_label_join('sex', arrests ~ '.sex_code', 'sex') }}
    {{ nibrs_label_join('race', arrests ~ '.race_code', 'race') }}
    {{ nibrs_label_join('ethnicity', arrests ~ '.ethnicity_code', 'ethnicity') }}
    {{ nibrs_label_join('resident_status', arrests ~ '.resident_status_code', 'resident') }}
    {{ nibrs_label_join('under18_disposition', arrests ~ '.under18_disposition_code', 'disposition') }}
{%- endmacro %}
