with

source as (

    select * from {{ source('nibrs', 'group_b_arrest') }}

),

renamed as (

    select
        ---------- keys: a Group B arrest is linked to no incident; the incident-number and
        -- incident-date slots hold the arrest transaction number and the arrest date
        data_year::integer as data_year,
        {{ nibrs_code('ori') }} as ori,
        coalesce({{ nibrs_code('bh_ori') }}, {{ nibrs_code('ori') }}) as agency_ori,
        {{ nibrs_text('state_code') }} as state_code,
        {{ nibrs_text('city_submission') }} as city_submission,

        ---------- the arrest and the arrestee
        {{ nibrs_arrestee_fields() }},

        ---------- lineage
        _partition,
        line_number,
        _load_id,
        _loaded_at

    from source
    where
        {{ nibrs_text('ori') }} is not null
        and {{ nibrs_text('arrest_transaction_number') }} is not null
        and {{ nibrs_integer('arrestee_sequence_number') }} is not null

),

deduplicated as (

    {{ first_line_per_key(
        'renamed',
        ['_partition', 'data_year', 'ori', 'arrest_transaction_number', 'arrestee_sequence_number'],
    ) }}

)

select * from deduplicated
