{%- set crimes = source('chicago', 'crimes') -%}

with

source as (

    {{ chicago_raw_crimes(crimes) }}

),

renamed as (

    select
        ---------- keys
        {{ chicago_integer('id') }}::bigint as id,
        {{ chicago_text('case_number') }} as case_number,

        ---------- when (Chicago local time)
        {{ chicago_local_timestamp(crimes, 'date') }} as occurred_at,
        {{ chicago_integer('year') }} as year,
        {{ chicago_local_timestamp(crimes, 'updated_on') }} as updated_on,

        ---------- what
        {{ chicago_text('iucr') }} as iucr,
        upper({{ chicago_text('primary_type') }}) as primary_type,
        upper({{ chicago_text('description') }}) as description,
        upper({{ chicago_text('fbi_code') }}) as fbi_code,
        upper({{ chicago_text('location_description') }}) as location_description,
        {{ chicago_boolean('arrest') }} as arrest,
        {{ chicago_boolean('domestic') }} as domestic,

        ---------- where
        {{ chicago_text('block') }} as block,
        {{ chicago_padded('beat', 4) }} as beat,
        {{ chicago_padded('district', 3) }} as district,
        {{ chicago_integer('ward') }} as ward,
        {{ chicago_integer('community_area') }} as community_area,
        {{ chicago_double('x_coordinate') }} as x_coordinate,
        {{ chicago_double('y_coordinate') }} as y_coordinate,
        {{ chicago_double('latitude') }} as latitude,
        {{ chicago_double('longitude') }} as longitude,

        ---------- lineage: the pull batch
        _partition,
        _load_id,
        _loaded_at

    from source

),

geocoded as (

    -- X = Y = 0 is a placeholder geocode that lands in Missouri (36.62, -91.69): no location
    select
        *,
        coalesce(x_coordinate, 0) <> 0 and latitude between 41 and 43 as has_coordinates
    from renamed
    where id is not null

),

deduplicated as (

    -- the raw table accumulates pull batches: keep each crime's latest version
    select distinct on (id) *
    from geocoded
    order by id asc, updated_on desc nulls last, _loaded_at desc, _load_id desc

)

select * from deduplicated
