{#-
    Year-at-a-time incremental builds of the NIBRS marts.

    A data year is the unit the warehouse loads (raw partition year=YYYY), so a year is also
    the unit the marts rebuild: `delete+insert` with `unique_key='data_year'` replaces
    exactly the years the model selects. Which years:

      * `--vars '{nibrs_years: [2022]}'`: those years (a backfill or a repair);
      * otherwise, on an incremental run, every year whose batch headers were loaded after
        the mart last saw them (the loader replaces a year's partitions together, and every
        mart row keeps the load time of its year as `source_loaded_at`);
      * on a first build or --full-refresh without the variable, every year.

    The years are looked up once per model at run time and inlined as literals, so the
    filter reaches into the staging views (PostgreSQL pushes constant filters on
    `data_year` through their DISTINCT ON and GROUP BY; a subquery it would not).
-#}

{# The years to build, or none for every year. #}
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
    {%- if not execute or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set changed -%}
        select loads.data_year::integer as data_year
        from (
            select data_year, max(_loaded_at) as loaded_at
            from {{ source('nibrs', 'batch_header') }}
            group by data_year
        ) as loads
        where loads.loaded_at > coalesce(
            (
                select max(built.source_loaded_at)
                from {{ this }} as built
                where built.data_year = loads.data_year
            ),
            '-infinity'::timestamptz
        )
        order by loads.data_year
    {%- endset -%}
    {%- set years = run_query(changed).columns[0].values() | map('int') | list -%}
    {{ log(this.identifier ~ ": rebuilding data years " ~ (years | join(', ') or 'none'), info=true) }}
    {{ return(years) }}
{%- endmacro %}

{#
    A filter for the years above (`true` for every year). `partitioned`: the relation has the
    loader's `_partition` (year=YYYY) too, as the NIBRS staging and intermediate views do;
    filtering on it lets PostgreSQL skip the other years' partitions of the raw tables
    instead of reading every year to find one.
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
    every NIBRS mart row carries as `source_loaded_at`.
#}
{% macro nibrs_year_loads(years) -%}
    select
        data_year::integer as data_year,
        max(_loaded_at) as source_loaded_at
    from {{ source('nibrs', 'batch_header') }}
    where {{ nibrs_year_filter(years, partitioned=true) }}
    group by data_year
{%- endmacro %}
