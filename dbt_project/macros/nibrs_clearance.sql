{#-
    An incident's clearance, the outcome the clearance model predicts (reference §6):
    'arrest' when an arrestee segment exists or the 01 declares one; else 'exceptional'
    when the 01's exceptional-clearance reason is one of A-E (an arrest takes priority, as
    Kaplan's harmonized files have it); else 'open'. Unit-tested in
    tests/macros/assert_nibrs_clearance_outcome.sql.
-#}
{% macro nibrs_clearance_outcome(arrestee_count, declared_arrestee_count, is_exceptionally_cleared) -%}
    case
        when
            coalesce({{ arrestee_count }}, 0) > 0
            or coalesce({{ declared_arrestee_count }}, 0) > 0
            then 'arrest'
        when coalesce({{ is_exceptionally_cleared }}, false) then 'exceptional'
        else 'open'
    end
{%- endmacro %}
