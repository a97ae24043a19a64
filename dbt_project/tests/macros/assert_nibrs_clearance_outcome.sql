{#-
    Unit test of macros/nibrs_clearance.sql: every case of the clearance rule, with what it
    must give. Returns the cases the macro gets wrong (none passes).
-#}
{{ config(tags=["nibrs", "unit"]) }}

with

cases (case_name, arrestee_count, declared_arrestee_count, is_exceptionally_cleared, expected) as (

    values
    ('an arrestee segment', 1, 0, false, 'arrest'),
    ('declared by the 01 only (the arrestee record lost)', 0, 2, false, 'arrest'),
    ('no arrestee segments joined at all', null, 1, null, 'arrest'),
    ('an arrest beats an exceptional clearance', 1, 1, true, 'arrest'),
    ('exceptionally cleared, no arrest', 0, 0, true, 'exceptional'),
    ('exceptional, arrestees unknown', null, null, true, 'exceptional'),
    ('reason N (not applicable) is open', 0, 0, false, 'open'),
    ('no reason given is open', null, null, null, 'open')

)

select
    case_name,
    expected,
    {{ nibrs_clearance_outcome(
        'arrestee_count::integer', 'declared_arrestee_count::integer',
        'is_exceptionally_cleared::boolean',
    ) }} as got
from cases
where
    {{ nibrs_clearance_outcome(
        'arrestee_count::integer', 'declared_arrestee_count::integer',
        'is_exceptionally_cleared::boolean',
    ) }} is distinct from expected
