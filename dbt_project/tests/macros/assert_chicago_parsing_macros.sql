{#-
    Unit test of macros/chicago_parsing.sql: the same value arriving as text, as a number
    or padded must type the same way (the pull's Parquet and older raw tables differ).
    Returns the values a macro gets wrong (none passes).
-#}
{{ config(tags=["chicago", "unit"]) }}

with

integers (raw, expected) as (

    values ('25', 25), (' 7 ', 7), ('12.0', 12), ('-3', -3), ('12.5', null), ('', null),
    ('N/A', null), (null, null)

),

doubles (raw, expected) as (

    values ('41.8781', 41.8781::double precision), ('-87.6298', -87.6298), ('1e3', 1000),
    ('', null), ('41,87', null)

),

booleans (raw, expected) as (

    values ('true', true), ('T', true), ('False', false), ('f', false), ('', null),
    ('yes', null)

),

padded (raw, expected) as (

    values ('7', '007'), ('011', '011'), ('7.0', '007'), ('', null), ('X1', 'X1')

),

checks as (

    select 'chicago_integer' as macro, raw, expected::text, ({{ chicago_integer('raw') }})::text as got
    from integers
    union all
    select 'chicago_double', raw, expected::text, ({{ chicago_double('raw') }})::text
    from doubles
    union all
    select 'chicago_boolean', raw, expected::text, ({{ chicago_boolean('raw') }})::text
    from booleans
    union all
    select 'chicago_padded', raw, expected, {{ chicago_padded('raw', 3) }} from padded

)

select * from checks
where got is distinct from expected
