with

source as (

    select * from {{ source('nibrs', 'offender') }}

),

renamed as (

    select
        ---------- keys
        {{ nibrs_incident_key('data_year', nibrs_code('ori'), nibrs_text('incident_number')) }}
            as incident_key,
        data_year::integer as data_year,
        {{ nibrs_code('ori') }} as ori,
        {{ nibrs_text('incident_number') }} as incident_number,
        coalesce({{ nibrs_code('bh_ori') }}, {{ nibrs_code('ori') }}) as agency_ori,
        {{ nibrs_date('incident_date') }} as incident_date,
        -- 00: the number of offenders is unknown; age, sex and race are then blank
        {{ nibrs_integer('offender_sequence_number') }} as offender_sequence_number,
        {{ nibrs_integer('offender_sequence_number') }} = 0 as is_unknown_offender,

        ---------- the offender
        {{ nibrs_code('offender_age') }} as age_code,
        {{ nibrs_age_years('offender_age') }} as age_years,
        {{ nibrs_sex('offender_sex') }} as sex_code,
        {{ nibrs_race('offender_race') }} as race_code,
        {{ nibrs_code('offender_ethnicity') }} as ethnicity_code,

        ---------- lineage
        _partition,
        line_number,
        _load_id,
        _loaded_at

    from source
    where
        {{ nibrs_text('ori') }} is not null
        and {{ nibrs_text('incident_number') }} is not null
        and {{ nibrs_integer('offender_sequence_number') }} is not null

),

deduplicated as (

    {{ first_line_per_key(
        'renamed',
        ['_partition', 'data_year', 'ori', 'incident_number', 'offender_sequence_number'],
    ) }}

)

select * from deduplicated
