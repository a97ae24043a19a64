{#-
    Rows whose `columns` match no row of `to` on the same columns: a relationship over a
    composite key (a victim's (data_year, incident_key) must be an incident's), which dbt's
    `relationships` test, one column wide, cannot express.

    The parent is read only for the child's data years, inlined as literals so that
    PostgreSQL reads just those partitions of it, not thirty years of incidents; the child is
    read for the same years, so that both sides are the same years even if the child's
    `where` would find more by the time the query runs.
-#}
{% test matches_a_row_of(model, to, columns, column_name=none) %}

    {%- set years = [] -%}
    {%- if execute and 'data_year' in columns -%}
        {%- set found = run_query('select distinct data_year from ' ~ model) -%}
        {%- set years = found.columns[0].values() | map('int') | list -%}
    {%- endif %}

    with

    child as (

        select * from {{ model }}
        {%- if 'data_year' in columns %}
        where {{ nibrs_year_filter(years) }}
        {%- endif %}

    ),

    parent as (

        select * from {{ to }}
        {%- if 'data_year' in columns %}
        where {{ nibrs_year_filter(years) }}
        {%- endif %}

    )

    select child.*
    from child
    where not exists (
        select 1
        from parent
        where
            {%- for column in columns %}
            parent.{{ column }} = child.{{ column }}{% if not loop.last %} and{% endif %}
            {%- endfor %}
    )

{% endtest %}
