{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='year',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['year']}],
    )
}}

-- The dashboard's Chicago page groups a year of crimes by type and by hour and weekday: a few
-- thousand rows here instead of a year's crimes (about 250 000 at the City's size) per view.

with

crimes as (

    select * from {{ ref('fct_chicago_crimes') }}
    {%- if is_incremental() %}
    -- rebuild the years that new pull batches touched, each in full
    where {{ chicago_touched_years() }}
    {%- endif %}

),

aggregated as (

    select
        year,
        primary_type,
        day_of_week,
        hour,
        count(*)::integer as crime_count,
        count(*) filter (where arrest)::integer as arrest_count,
        max(source_loaded_at) as source_loaded_at
    from crimes
    group by year, primary_type, day_of_week, hour

)

select
    year::text
    || '|' || primary_type
    || '|' || coalesce(day_of_week::text, 'unknown')
    || '|' || coalesce(hour::text, 'unknown') as type_hour_id,
    year,
    primary_type,
    day_of_week,
    hour,
    crime_count,
    arrest_count,
    source_loaded_at
from aggregated
