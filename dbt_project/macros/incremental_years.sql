{#-
    Year-at-a-time builds of the NIBRS marts (materialization year_partitions).

    A data year is the unit the warehouse loads (raw partition year=YYYY), so a year is also
    the unit the marts rebuild. Which years:

      * `--vars '{nibrs_years: [2022]}'`: those years (a backfill or a repair);
      * otherwise, when the mart exists, every year loaded into raw after this mart last
        built it (audit.mart_builds keeps the load each build came from), and every loaded
        year the mart has no partition for;
      * on a first build or --full-refresh: every loaded year.

    The years are looked up once per model at run time and inlined as literals, so the
    filter reaches into the staging views (PostgreSQL pushes constant filters on
    `data_year` through their DISTINCT ON and GROUP BY; a subquery it would not).
-#}

{# The years to build, or none for every loaded year. #}
{% macro nibrs_years_to_build() -%}
    {%- set forced = var('nibrs_years', []) -%}
    {%- if forced is string or forced is number -%}
        {%- set forced = (forced | string).split(',') -%}
    {%- endif -%}
    {%- if forced | length > 0 -%}
        {%- set years = forced | map('int') | list -%}
        {%- if execute -%}
            {{ log(this.identifier ~ ": rebuilding data years " ~ (years | join(', ')) ~ " (nibrs_years)", info=true) }}
        {%- endif -%}
        {{ return(years) }}
    {%- endif -%}
    {%- if not execute or should_full_refresh() or load_relation(this) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set builds = load_relation(mart_builds_relation()) -%}
    {%- set changed -%}
        with

        loads as (
            select
                year_loads.data_year,
                year_loads.source_loaded_at as loaded_at
            from ({{ nibrs_year_loads(none) }}) as year_loads
        ),

        builds as (
            {%- if builds is none %}
            select
                null::integer as data_year,
                null::timestamptz as source_loaded_at
            where false
            {%- else %}
            select
                data_year,
                max(source_loaded_at) as source_loaded_at
            from {{ builds }}
            where model = '{{ this.identifier }}'
            group by data_year
            {%- endif %}
        )

        select loads.data_year
        from loads
        left join builds
            on loads.data_year = builds.data_year
        where
            builds.source_loaded_at is null
            or loads.loaded_at > builds.source_loaded_at
            or to_regclass('{{ this.schema }}.{{ this.identifier }}__y' || loads.data_year::text)
            is null
        order by loads.data_year
    {%- endset -%}
    {%- set years = run_query(changed).columns[0].values() | map('int') | list -%}
    {{ log(this.identifier ~ ": rebuilding data years " ~ (years | join(', ') or 'none'), info=true) }}
    {{ return(years) }}
{%- endmacro %}

{# Every data year raw holds. #}
{% macro nibrs_loaded_years() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set loaded -%}
        select distinct data_year::integer
        from {{ source('nibrs', 'batch_header') }}
        order by 1
    {%- endset -%}
    {{ return(run_query(loaded).columns[0].values() | map('int') | list) }}
{%- endmacro %}

{#
    A filter for the years above (`true` for every year). `partitioned`: the relation has the
    loader's `_partition` (year=YYYY) too, as the NIBRS staging views do; filtering on it
    lets PostgreSQL skip the other years' partitions of the raw tables instead of reading
    every year to find one.
#}
{% macro nibrs_year_filter(years, partitioned=false) -%}
    {%- if years is none -%}
        true
    {%- elif years | length == 0 -%}
        false
    {%- elif partitioned -%}
        _partition in ('year={{ years | join("', 'year=") }}')
        and data_year in ({{ years | join(', ') }})
    {%- else -%}
        data_year in ({{ years | join(', ') }})
    {%- endif -%}
{%- endmacro %}

{#
    When each data year's raw partition was loaded: the batch headers' load time, which
    audit.mart_builds records for every year a mart builds. A mart whose year also depends on
    something else (the scores of that year, the other years of a range) names a macro of the
    same signature in its `year_loads` config, returning (data_year, source_loaded_at): a year
    is rebuilt when that time passes the one recorded at its last build.
#}
{% macro nibrs_year_loads(years) -%}
    {%- set custom = config.get('year_loads') -%}
    {%- if custom -%}
        {{ return(context[custom](years)) }}
    {%- endif -%}
    {{ return(nibrs_raw_year_loads(years)) }}
{%- endmacro %}

{# The raw batch headers' load time per data year (the default of nibrs_year_loads). #}
{% macro nibrs_raw_year_loads(years) -%}
    select
        data_year::integer as data_year,
        max(_loaded_at) as source_loaded_at
    from {{ source('nibrs', 'batch_header') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}
    group by data_year
{%- endmacro %}
