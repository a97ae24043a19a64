{#-
    Tests on the NIBRS marts check the years this invocation built, not every year held.

    A mart keeps one partition per data year, and a year that was not rebuilt was tested
    when it was. Rechecking thirty years of facts on every nightly run would cost more than
    the run itself. The word `nibrs_years_built_now` in a test's `where` (set for marts/nibrs
    in dbt_project.yml; a test with a filter of its own writes `nibrs_years_built_now and
    ...`) becomes a filter on the years audit.mart_builds records for this invocation. It is
    resolved here, when the test runs, because the invocation id is only known then.

    On a year-partitioned mart, the years are those that mart built. A test runs after its
    model, so they are all recorded by then and stay the same while the test runs; the years
    every model built so far would still grow while other models build on other threads, and
    a test that reads the years first (matches_a_row_of) would then check its rows against
    a parent read for fewer years. A view (the labelled marts) records no builds of its own:
    its tests check the years anything in this invocation built.
-#}
{% macro postgres__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') or '' -%}
    {%- if 'nibrs_years_built_now' in where -%}
        {%- set partitioned = graph.nodes.values()
            | selectattr('resource_type', 'equalto', 'model')
            | selectattr('config.materialized', 'equalto', 'year_partitions')
            | selectattr('alias', 'equalto', relation.identifier)
            | list | length > 0 -%}
        {%- set built_now -%}
            data_year in (
                select built.data_year
                from {{ mart_builds_relation() }} as built
                where built.invocation_id = '{{ invocation_id }}'
                {%- if partitioned %}
                    and built.model = '{{ relation.identifier }}'
                {%- endif %}
            )
        {%- endset -%}
        {%- if load_relation(mart_builds_relation()) is none -%}
            {%- set built_now = 'false' -%}
        {%- endif -%}
        {%- set where = where | replace('nibrs_years_built_now', '(' ~ built_now ~ ')') -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) as dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}
