{#-
    Schemas are exactly the ones the warehouse stack creates and grants on (staging,
    intermediate, ref, marts), whatever the target: dbt's default would prefix them with the
    target schema (`marts_staging`). A node without a custom schema goes to the target's.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
