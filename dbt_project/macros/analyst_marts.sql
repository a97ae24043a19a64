{#-
    Helpers of the analyst marts (models/marts/nibrs/analyst, the score marts): the constant
    reporters' range, when a year of a cross-year or scored mart must be rebuilt (the
    `year_loads` config of nibrs_year_loads), and the coverage indicator's formula.
-#}

{#
    The constant reporters' range, [first, last]: the var nibrs_constant_reporter_years, or
    from the first to the last data year loaded. [0, 0] when nothing is loaded (and at parse).
#}
{% macro nibrs_constant_reporter_range() -%}
    {%- set chosen = var('nibrs_constant_reporter_years', []) -%}
    {%- if chosen is string -%}
        {%- set chosen = chosen.split(',') -%}
    {%- endif -%}
    {%- if chosen | length == 2 -%}
        {%- set first, last = chosen[0] | int, chosen[1] | int -%}
        {%- if first > last -%}
            {{ exceptions.raise_compiler_error(
                "nibrs_constant_reporter_years must be [first, last] with first <= last, not "
                ~ chosen ~ ": e.g. --vars '{nibrs_constant_reporter_years: [2019, 2023]}'"
            ) }}
        {%- endif -%}
        {{ return([first, last]) }}
    {%- elif chosen | length > 0 -%}
        {{ exceptions.raise_compiler_error(
            "nibrs_constant_reporter_years must be two years, [first, last], not " ~ chosen
            ~ ": e.g. --vars '{nibrs_constant_reporter_years: [2019, 2023]}'"
        ) }}
    {%- endif -%}
    {%- set raw = load_relation(source('nibrs', 'batch_header')) if execute else none -%}
    {%- set loaded = nibrs_loaded_years() if raw is not none else [] -%}
    {%- if loaded | length == 0 -%}
        {{ return([0, 0]) }}
    {%- endif -%}
    {{ return([loaded | min, loaded | max]) }}
{%- endmacro %}


{#
    year_loads of the constant-reporter marts: a year's rows depend on every year of the range,
    so a year in the range counts as loaded when the latest year of the range was, and every
    year counts as loaded now when the mart holds another range than the var asks for (the
    range changed: rebuild all).
#}
{% macro constant_reporter_year_loads(years) -%}
    {%- set first, last = nibrs_constant_reporter_range() -%}
    {%- set existing = load_relation(this) if execute else none -%}
    with

    raw_loads as (
        {{ nibrs_raw_year_loads(none) }}
    ),

    range_loads as (
        select max(raw_loads.source_loaded_at) as source_loaded_at
        from raw_loads
        where raw_loads.data_year between {{ first }} and {{ last }}
    ),

    range_changed as (
        {%- if existing is none %}
        select false as is_changed
        {%- else %}
        select exists (
            select 1 from {{ existing }} as built
            where built.first_year <> {{ first }} or built.last_year <> {{ last }}
        ) as is_changed
        {%- endif %}
    )

    select
        raw_loads.data_year,
        case
            when range_changed.is_changed then now()
            when raw_loads.data_year between {{ first }} and {{ last }}
                then range_loads.source_loaded_at
            else raw_loads.source_loaded_at
        end as source_loaded_at
    from raw_loads
    cross join range_loads
    cross join range_changed
    where {{ nibrs_year_filter(years) | replace('data_year', 'raw_loads.data_year') }}
{%- endmacro %}


{#
    year_loads of fct_nibrs_incident_clearance_scores: a year changes when its raw year is
    reloaded or the scorer replaces its scores (ml.clearance_score_partitions.scored_at).
#}
{% macro clearance_score_year_loads(years) -%}
    {%- set partitions = load_relation(source('ml', 'clearance_score_partitions'))
        if execute else none -%}
    select
        raw_loads.data_year,
        {%- if partitions is none %}
        raw_loads.source_loaded_at
        {%- else %}
        greatest(raw_loads.source_loaded_at, scored.scored_at) as source_loaded_at
        {%- endif %}
    from ({{ nibrs_raw_year_loads(years) }}) as raw_loads
    {%- if partitions is not none %}
    left join (
        select
            scored_partition,
            scored_at
        from {{ partitions }}
    ) as scored
        on raw_loads.data_year::text = scored.scored_partition
    {%- endif %}
{%- endmacro %}


{#
    The NACJD / Urban Institute coverage indicator (reference §3.6a) from the population-weighted
    months not reported and the population, and its tier (§3.6b thresholds): 1 complete, 2 at
    least 80, 3 below 80, null without population.
#}
{% macro coverage_indicator(missing_weighted, population) -%}
    case
        when {{ population }} > 0
            then round(100 * (1 - {{ missing_weighted }}::numeric / {{ population }}), 3)
    end
{%- endmacro %}

{% macro coverage_tier(missing_weighted, population) -%}
    case
        when not {{ population }} > 0 then null
        when {{ missing_weighted }} = 0 then 1
        when 100 * (1 - {{ missing_weighted }}::numeric / {{ population }}) >= 80 then 2
        else 3
    end::smallint
{%- endmacro %}


{# A share as a percent (0-100) to three decimals; null over 0. #}
{% macro percent_of(part, whole) -%}
    round(100.0 * {{ part }} / nullif({{ whole }}, 0), 3)
{%- endmacro %}


{# Filter on a scores table's text partition for the NIBRS years being built. #}
{% macro scored_partition_filter(years) -%}
    {%- if years is none -%}
        true
    {%- elif years | length == 0 -%}
        false
    {%- else -%}
        scored_partition in ('{{ years | join("', '") }}')
    {%- endif -%}
{%- endmacro %}


{#
    Why an agency-year has no rate per 100 000 (reference §5.2), from a relation with
    fct_nibrs_agency_years' columns; null when it may have one.
#}
{% macro rate_unavailable_reason(agency_years) -%}
    case
        when {{ agency_years }}.ori is null then 'no_agency_header'
        when {{ agency_years }}.is_covered_by_another_agency then 'covered_by_another_agency'
        when not {{ agency_years }}.is_full_year then 'not_full_year'
        when not {{ agency_years }}.population_served > 0 then 'no_population'
    end
{%- endmacro %}


{#-
    The score marts' rows (fct_nibrs_incident_clearance_scores, fct_chicago_arrest_scores):
    the CTEs `scores`, `partitions` and `features` (ml.<model>_scores, its partitions, the
    model's feature names) joined, the key and probabilities first (`columns`), then the
    version, scoring time, method and the top three contributions by feature name.
    `no_champion_scores` is the same shape, empty: before the first `crimewh score`.
-#}
{% macro champion_scores(columns) -%}
    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        partitions.model_version,
        partitions.scored_at,
        {%- for k in range(1, 4) %}
        feature_{{ k }}.feature_name as top_feature_{{ k }},
        scores.top_value_{{ k }},
        scores.top_contribution_{{ k }},
        {%- endfor %}
        partitions.contribution_method
    from scores
    inner join partitions
        on scores.scored_partition = partitions.scored_partition
    {%- for k in range(1, 4) %}
    left join features as feature_{{ k }}
        on
            partitions.model_version = feature_{{ k }}.model_version
            and scores.top_feature_{{ k }} = feature_{{ k }}.feature_index
    {%- endfor %}
{%- endmacro %}

{% macro no_champion_scores(columns) -%}
    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        null::text as model_version,
        null::timestamptz as scored_at,
        {%- for k in range(1, 4) %}
        null::text as top_feature_{{ k }},
        null::text as top_value_{{ k }},
        null::real as top_contribution_{{ k }},
        {%- endfor %}
        null::text as contribution_method
    where false
{%- endmacro %}

{# The score columns every score mart ends with, from the CTE `relation`. #}
{% macro champion_score_columns(relation) -%}
    {{ relation }}.model_version,
    {{ relation }}.scored_at,
    {%- for k in range(1, 4) %}
    {{ relation }}.top_feature_{{ k }},
    {{ relation }}.top_value_{{ k }},
    {{ relation }}.top_contribution_{{ k }},
    {%- endfor %}
    {{ relation }}.contribution_method
{%- endmacro %}
