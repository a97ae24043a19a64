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

    {{ champion_scores(['scores.id', 'scores.probability as p_arrest']) }}

),

{%- else %}

crimes as (

    select * from {{ ref('fct_chicago_crimes') }}
    where false

),

scored as (

    -- nothing scored yet: the mart is empty until `crimewh score arrest` has run
    {{ no_champion_scores(['null::bigint as id', 'null::real as p_arrest']) }}

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
        {{ champion_score_columns('scored') }}
    from crimes
    inner join scored
        on crimes.id = scored.id

)

select * from final
