{%- set years = nibrs_years_to_build() %}
{%- set stats = [('clearance_rate', 6), ('incidents_per_100k', 4)] %}
{%- set quantiles = [('p25', 0.25), ('median', 0.5), ('p75', 0.75)] %}

with

agency_year_totals as (

    select * from {{ ref('agg_nibrs_agency_year_offenses') }}
    where {{ nibrs_year_filter(years) }} and category_type = 'all'

),

agency_years as (

    select * from {{ ref('fct_nibrs_agency_years') }}
    where {{ nibrs_year_filter(years) }}

),

agencies as (

    select
        agency_years.data_year,
        agency_years.ori,
        agency_years.agency_name,
        agency_years.state_abbreviation,
        agency_years.population_group,
        -- state police and agencies serving nobody are no size band's peers (reference §6)
        case
            when
                agency_years.population_group in ('8E', '9E')
                or agency_years.agency_type_code = '4'
                then 'state_police'
            when not agency_years.population_served > 0 then 'no_population'
            when agency_years.population_group is null then 'unknown'
            else agency_years.population_group
        end as peer_group,
        agency_years.is_full_year,
        agency_years.is_covered_by_another_agency,
        agency_years.is_full_year and not agency_years.is_covered_by_another_agency as is_peer,
        agency_years.population_served,
        agency_year_totals.incident_count,
        agency_year_totals.cleared_count,
        agency_year_totals.clearance_rate,
        agency_year_totals.incidents_per_100k,
        {{ rate_unavailable_reason('agency_years') }} as rate_unavailable_reason
    from agency_years
    inner join agency_year_totals
        on
            agency_years.data_year = agency_year_totals.data_year
            and agency_years.ori = agency_year_totals.ori

),

{%- for scope, grain in [('state', ['data_year', 'state_abbreviation', 'peer_group']),
                         ('national', ['data_year', 'peer_group'])] %}

{{ scope }}_peers as (

    select
        {{ grain | join(',\n        ') }},
        {%- for stat, scale in stats %}
        {%- for name, fraction in quantiles %}
        round((percentile_cont({{ fraction }}) within group (order by {{ stat }}) filter (
            where {{ stat }} is not null
        ))::numeric, {{ scale }}) as {{ stat }}_{{ name }},
        {%- endfor %}
        {%- endfor %}
        count(*)::integer as peer_count
    from agencies
    where is_peer
    group by {{ grain | join(', ') }}

),
{%- endfor %}

final as (

    select
        agencies.data_year,
        agencies.ori,
        agencies.agency_name,
        agencies.state_abbreviation,
        agencies.population_group,
        agencies.peer_group,
        agencies.is_full_year,
        agencies.is_covered_by_another_agency,
        agencies.is_peer,
        agencies.population_served,
        agencies.incident_count,
        agencies.cleared_count,
        agencies.clearance_rate,
        agencies.incidents_per_100k,
        {%- for scope in ['state', 'national'] %}
        coalesce({{ scope }}_peers.peer_count, 0) as {{ scope }}_peer_count,
        {%- for stat, scale in stats %}
        {%- for name, fraction in quantiles %}
        {{ scope }}_peers.{{ stat }}_{{ name }} as {{ scope }}_peer_{{ stat }}_{{ name }},
        {%- endfor %}
        {%- endfor %}
        {%- endfor %}
        agencies.rate_unavailable_reason
    from agencies
    left join state_peers
        on
            agencies.data_year = state_peers.data_year
            and agencies.state_abbreviation = state_peers.state_abbreviation
            and agencies.peer_group = state_peers.peer_group
    left join national_peers
        on
            agencies.data_year = national_peers.data_year
            and agencies.peer_group = national_peers.peer_group

)

select * from final
