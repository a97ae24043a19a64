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
{%- set scored_columns = [
    'scores.scored_partition::integer as data_year',
    'scores.incident_key',
    'scores.probability as p_cleared',
] %}
{%- for class in ['p_open', 'p_arrest', 'p_exceptional'] %}
    {%- do scored_columns.append(
        'scores.' ~ class if class in score_columns else 'null::real as ' ~ class
    ) %}
{%- endfor %}
{%- set empty_columns = [
    'null::integer as data_year', 'null::bigint as incident_key', 'null::real as p_cleared',
    'null::real as p_open', 'null::real as p_arrest', 'null::real as p_exceptional',
] %}

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

    {{ champion_scores(scored_columns) }}

),

{%- else %}

scored as (

    -- nothing scored yet: the mart is empty until `crimewh score clearance` has run
    {{ no_champion_scores(empty_columns) }}

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
        {{ champion_score_columns('scored') }}
    from incidents
    inner join scored
        on
            incidents.data_year = scored.data_year
            and incidents.incident_key = scored.incident_key

)

select * from final
