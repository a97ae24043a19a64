-- The batch headers' county portions, one row per agency, data year and county slot used
-- (up to five: UCR county code, FIPS county code, population; reference §3.5).

with

batch_headers as (

    select * from {{ ref('stg_nibrs__batch_headers') }}

),

slots as (

    select
        batch_headers._partition,
        batch_headers.data_year,
        batch_headers.ori,
        batch_headers.state_abbreviation,
        batch_headers.population_source,
        slot.slot_number,
        slot.county_code,
        slot.fips_county_code,
        -- the population the header's total was taken from (last census's in 2000)
        case
            when batch_headers.population_source = 'last_population' then slot.last_population
            else slot.current_population
        end as slot_population
    from batch_headers
    cross join
        lateral (
            values
            (
                1, batch_headers.ucr_county_code_1, batch_headers.fips_county_code_1,
                batch_headers.current_population_1, batch_headers.last_population_1
            ),
            (
                2, batch_headers.ucr_county_code_2, batch_headers.fips_county_code_2,
                batch_headers.current_population_2, batch_headers.last_population_2
            ),
            (
                3, batch_headers.ucr_county_code_3, batch_headers.fips_county_code_3,
                batch_headers.current_population_3, batch_headers.last_population_3
            ),
            (
                4, batch_headers.ucr_county_code_4, batch_headers.fips_county_code_4,
                batch_headers.current_population_4, batch_headers.last_population_4
            ),
            (
                5, batch_headers.ucr_county_code_5, batch_headers.fips_county_code_5,
                batch_headers.current_population_5, batch_headers.last_population_5
            )
        )
            as slot (
                slot_number, county_code, fips_county_code, current_population, last_population
            )
    where slot.county_code is not null

),

final as (

    select
        _partition,
        data_year,
        ori,
        state_abbreviation,
        slot_number,
        county_code,
        fips_county_code,
        coalesce(slot_population, 0)::bigint as portion_population
    from slots

)

select * from final
