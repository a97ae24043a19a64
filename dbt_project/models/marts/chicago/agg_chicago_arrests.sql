{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='year',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['source_loaded_at']}],
    )
}}

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
        district,
        community_area,
        count(*)::integer as crime_count,
        count(*) filter (where arrest)::integer as arrest_count,
        count(*) filter (where domestic)::integer as domestic_count,
        count(*) filter (where domestic and arrest)::integer as domestic_arrest_count,
        count(*) filter (where is_index_crime)::integer as index_crime_count,
        count(*) filter (where is_index_crime and arrest)::integer as index_arrest_count,
        count(*) filter (where index_class = 'violent')::integer as violent_crime_count,
        count(*) filter (where index_class = 'violent' and arrest)::integer as violent_arrest_count,
        count(*) filter (where not is_police_initiated)::integer as citizen_reported_count,
        count(*) filter (where not is_police_initiated and arrest)::integer
            as citizen_reported_arrest_count,
        max(source_loaded_at) as source_loaded_at
    from crimes
    group by year, district, community_area

),

final as (

    select
        year::text
        || '|' || coalesce(district, 'unknown')
        || '|' || coalesce(community_area::text, 'unknown') as arrest_stat_id,
        year,
        district,
        community_area,
        crime_count,
        arrest_count,
        round(arrest_count::numeric / crime_count, 6) as arrest_rate,
        domestic_count,
        domestic_arrest_count,
        round(domestic_arrest_count::numeric / nullif(domestic_count, 0), 6)
            as domestic_arrest_rate,
        index_crime_count,
        index_arrest_count,
        violent_crime_count,
        violent_arrest_count,
        citizen_reported_count,
        citizen_reported_arrest_count,
        round(citizen_reported_arrest_count::numeric / nullif(citizen_reported_count, 0), 6)
            as citizen_reported_arrest_rate,
        source_loaded_at
    from aggregated

)

select * from final
