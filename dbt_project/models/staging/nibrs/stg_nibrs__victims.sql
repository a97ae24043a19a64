with

source as (

    select * from {{ source('nibrs', 'victim') }}

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
        {{ nibrs_integer('victim_sequence_number') }} as victim_sequence_number,

        ---------- offenses of the incident this victim suffered (up to 10)
        array_remove(array[
            {%- for slot in range(1, 11) %}
            {{ nibrs_code('victim_ucr_offense_' ~ slot) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        ], null)::text[] as offense_codes,

        ---------- the victim
        {{ nibrs_code('victim_type') }} as victim_type_code,
        {{ nibrs_code('victim_age') }} as age_code,
        {{ nibrs_age_years('victim_age') }} as age_years,
        {{ nibrs_sex('victim_sex') }} as sex_code,
        {{ nibrs_race('victim_race') }} as race_code,
        {{ nibrs_code('victim_ethnicity') }} as ethnicity_code,
        {{ nibrs_code('victim_resident_status') }} as resident_status_code,
        {{ nibrs_text('agg_assault_homicide_circ_1') }} as circumstance_code_1,
        {{ nibrs_text('agg_assault_homicide_circ_2') }} as circumstance_code_2,
        {{ nibrs_code('additional_justifiable_homicide_circ') }}
            as justifiable_homicide_circumstance_code,
        array_remove(array[
            {%- for slot in range(1, 6) %}
            {{ nibrs_code('injury_' ~ slot) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        ], null)::text[] as injury_codes,

        ---------- relationships to up to 10 offenders: the victim WAS the offender's X
        {%- for slot in range(1, 11) %}
        {{ nibrs_integer('offender_number_related_' ~ slot) }}
            as offender_number_related_{{ slot }},
        {{ nibrs_code('relationship_' ~ slot) }} as relationship_code_{{ slot }},
        {%- endfor %}

        ---------- law enforcement officer victims (type L)
        {{ nibrs_text('leoka_officer_activity') }} as leoka_officer_activity_code,
        {{ nibrs_code('leoka_officer_assignment') }} as leoka_officer_assignment_code,
        {{ nibrs_code('leoka_officer_other_ori') }} as leoka_officer_other_ori,

        ---------- lineage
        _partition,
        line_number,
        _load_id,
        _loaded_at

    from source
    where
        {{ nibrs_text('ori') }} is not null
        and {{ nibrs_text('incident_number') }} is not null
        and {{ nibrs_integer('victim_sequence_number') }} is not null

),

deduplicated as (

    {{ first_line_per_key(
        'renamed',
        ['_partition', 'data_year', 'ori', 'incident_number', 'victim_sequence_number'],
    ) }}

)

select * from deduplicated
