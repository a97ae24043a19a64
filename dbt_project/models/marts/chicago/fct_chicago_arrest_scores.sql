{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='year',
        on_schema_change='fail',
    )
}}
{%- set scores_source = source('ml', 'arrest_scores') %}
{%- set partitions_source = source('ml', 'arrest_score_partitions') %}
{%- set features_source = source('ml', 'model_features') %}
{%- set has_scores = execute
    and load_relation(scores_source) is not none
    and load_relation(partitions_source) is not none
    and load_relation(features_source) is not none %}

with

{%- if has_scores %}

partitions as (

    -- the years the scorer replaced since the last build (all of them on the first)
    select * from {{ partitions_source }} as scored
    {%- if is_incremental() %}
    where
        scored.scored_at > coalesce((
            select max(built.scored_at) from {{ this }} as built
            where built.year::text = scored.scored_partition
        ), '-infinity'::timestamptz)
    {%- endif %}

),

scores as (

    select * from {{ scores_source }}
    where scored_partition in (select partitions.scored_partition from partitions)

),

features as (

    select * from {{ features_source }}
    where model = 'arrest'

),

crimes as (

    select * from {{ ref('fct_chicago_crimes') }}
    where year::text in (select partitions.scored_partition from partitions)

),

scored as (

    select
        scores.id,
        scores.probability as p_arrest,
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

),

{%- else %}

crimes as (

    select * from {{ ref('fct_chicago_crimes') }}
    where false

),

scored as (

    -- nothing scored yet: the mart is empty until `crimewh score arrest` has run
    select
        null::bigint as id,
        null::real as p_arrest,
        null::text as model_version,
        null::timestamptz as scored_at,
        {%- for k in range(1, 4) %}
        null::text as top_feature_{{ k }},
        null::text as top_value_{{ k }},
        null::real as top_contribution_{{ k }},
        {%- endfor %}
        null::text as contribution_method
    where false

),

{%- endif %}

final as (

    select
        crimes.id,
        crimes.year,
        crimes.occurred_at,
        crimes.primary_type,
        crimes.district,
        crimes.community_area,
        crimes.arrest,
        scored.p_arrest,
        scored.model_version,
        scored.scored_at,
        {%- for k in range(1, 4) %}
        scored.top_feature_{{ k }},
        scored.top_value_{{ k }},
        scored.top_contribution_{{ k }},
        {%- endfor %}
        scored.contribution_method
    from crimes
    inner join scored
        on crimes.id = scored.id

)

select * from final
