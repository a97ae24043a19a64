{{ config(year_loads='clearance_score_year_loads') }}
{%- set years = nibrs_years_to_build() %}
{%- set scores_source = source('ml', 'clearance_scores') %}
{%- set partitions_source = source('ml', 'clearance_score_partitions') %}
{%- set features_source = source('ml', 'model_features') %}
{%- set scores = load_relation(scores_source) if execute else none %}
{%- set partitions = load_relation(partitions_source) if execute else none %}
{%- set features = load_relation(features_source) if execute else none %}
{%- set score_columns = adapter.get_columns_in_relation(scores) | map(attribute='name') | list
    if scores is not none else [] %}
{%- set has_scores = scores is not none and partitions is not none and features is not none %}

with

incidents as (

    select * from {{ ref('fct_nibrs_incidents') }}
    where {{ nibrs_year_filter(years) }}

),

{%- if has_scores %}

scores as (

    -- the scorer's partitions are the data years, as text
    select * from {{ scores_source }}
    where {{ scored_partition_filter(years) }}

),

partitions as (

    select * from {{ partitions_source }}

),

features as (

    select * from {{ features_source }}
    where model = 'clearance'

),

scored as (

    select
        scores.scored_partition::integer as data_year,
        scores.incident_key,
        scores.probability as p_cleared,
        {%- for class in ['p_open', 'p_arrest', 'p_exceptional'] %}
        {{ 'scores.' ~ class if class in score_columns else 'null::real' }} as {{ class }},
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

),

{%- else %}

scored as (

    -- nothing scored yet: the mart is empty until `crimewh score clearance` has run
    select
        null::integer as data_year,
        null::bigint as incident_key,
        null::real as p_cleared,
        null::real as p_open,
        null::real as p_arrest,
        null::real as p_exceptional,
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
        incidents.data_year,
        incidents.incident_key,
        incidents.agency_ori,
        incidents.incident_date,
        incidents.primary_offense_code,
        incidents.clearance_outcome,
        scored.p_cleared,
        scored.p_open,
        scored.p_arrest,
        scored.p_exceptional,
        scored.model_version,
        scored.scored_at,
        {%- for k in range(1, 4) %}
        scored.top_feature_{{ k }},
        scored.top_value_{{ k }},
        scored.top_contribution_{{ k }},
        {%- endfor %}
        scored.contribution_method
    from incidents
    inner join scored
        on
            incidents.data_year = scored.data_year
            and incidents.incident_key = scored.incident_key

)

select * from final
