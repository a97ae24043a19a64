{#-
    Unit test of macros/nibrs_parsing.sql on the deviations the master files show
    (reference nibrs-master-file.md §1.2, §1.7): stray blanks, `#` and `-` in numbers,
    zero and impossible dates, lower-case codes, blank flags, the age codes. Returns the
    values a macro gets wrong (none passes).
-#}
{{ config(tags=["nibrs", "unit"]) }}

with

integers (raw, expected) as (

    values
    ('00012', 12), ('12', 12), ('#0012', 12), ('0-12', 12), (' 7 ', 7),
    ('', null), (null, null), ('ABC', null), ('1234567890', null)

),

dates (raw, expected) as (

    values
    ('20220131', date '2022-01-31'), ('20240229', date '2024-02-29'),
    ('20230229', null), ('20220231', null), ('20220431', null), ('00000000', null),
    ('18991231', null), ('2022013', null), ('', null), (null, null)

),

codes (raw, expected) as (

    values ('13a', '13A'), (' 09A ', '09A'), ('', null), ('   ', null), (null, null)

),

flags (raw, expected) as (

    values ('Y', true), ('y', true), (' N', false), ('', null), ('X', null), (null, null)

),

ages (raw, expected) as (

    values ('NN', 0), ('nb', 0), ('BB', 0), ('00', null), ('07', 7), ('99', 99), ('', null)

),

checks as (

    select 'nibrs_integer' as macro, raw, expected::text, ({{ nibrs_integer('raw') }})::text as got
    from integers
    union all
    select 'nibrs_date', raw, expected::text, ({{ nibrs_date('raw') }})::text from dates
    union all
    select 'nibrs_code', raw, expected, {{ nibrs_code('raw') }} from codes
    union all
    select 'nibrs_flag', raw, expected::text, ({{ nibrs_flag('raw') }})::text from flags
    union all
    select 'nibrs_age_years', raw, expected::text, ({{ nibrs_age_years('raw') }})::text
    from ages

)

select * from checks
where got is distinct from expected
