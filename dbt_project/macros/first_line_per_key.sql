{#-
    One row per natural key: the first line the master file holds for it.

    The FBI files repeat a record now and then (a resubmission kept beside the original); the
    first line wins, which is also what the decoder's line_number makes reproducible. Used by
    every NIBRS staging model, so the rule lives in one place.
-#}
{% macro first_line_per_key(relation, keys) -%}
    select distinct on ({{ keys | join(', ') }}) *
    from {{ relation }}
    order by {% for key in keys %}{{ key }} asc, {% endfor %}line_number asc
{%- endmacro %}
