{#-
    Typing of NIBRS master-file fields. The raw tables keep every field as the text sliced
    from the record (decoder: outer blanks stripped, blank -> null); these macros turn them
    into values, tolerating the deviations the reference lists (nibrs-master-file.md §1.2,
    §1.7): stray blanks, `#` in numbers, `-` in hours, `00000000` dates, lower-case codes.
    Anything that still does not parse becomes null rather than failing the whole year.
-#}

{# Text with blanks as null. #}
{% macro nibrs_text(column) -%}
    nullif(btrim({{ column }}), '')
{%- endmacro %}

{# A code (offense, location, sex...): upper-cased, blank as null. #}
{% macro nibrs_code(column) -%}
    upper(nullif(btrim({{ column }}), ''))
{%- endmacro %}

{#
    A zero-filled count or amount; `#` and `-` are dropped (§1.7), anything else -> null.
    Plain digits, nearly every value, are cast without the regexp_replace, which cost a
    third of a staging view's time.
#}
{% macro nibrs_integer(column) -%}
    case
        when {{ column }} ~ '^[0-9]{1,9}$' then {{ column }}::integer
        when regexp_replace({{ column }}, '[#\s-]', '', 'g') ~ '^[0-9]{1,9}$'
            then regexp_replace({{ column }}, '[#\s-]', '', 'g')::integer
    end
{%- endmacro %}

{#
    YYYYMMDD -> date. `00000000`, impossible days (20220231) and years outside 1900-2099
    (window records carry old incident dates) become null. Days up to 28 exist in every
    month, so only the 29th to the 31st are checked against the month's length (the check
    costs more than the rest of the parse).
#}
{% macro nibrs_date(column) -%}
    case
        when
            {{ column }} ~ '^(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$'
            and (
                substr({{ column }}, 7, 2) <= '28'
                or substr({{ column }}, 7, 2)::integer <= extract(
                    day from (
                        to_date(substr({{ column }}, 1, 6), 'YYYYMM')
                        + interval '1 month - 1 day'
                    )
                )
            )
            then {{ column }}::date
    end
{%- endmacro %}

{# A Y/N flag -> boolean; blank (some years leave the monthly flags blank) -> null. #}
{% macro nibrs_flag(column, yes='Y', no='N') -%}
    case upper(btrim({{ column }}))
        when '{{ yes }}' then true
        when '{{ no }}' then false
    end
{%- endmacro %}

{#
    A 2-character age -> whole years: NN (under 24 hours), NB (1-6 days) and BB (7-364
    days) are 0, 00 is unknown (null), 99 means 99 or older.
#}
{% macro nibrs_age_years(column) -%}
    case
        when upper(btrim({{ column }})) in ('NN', 'NB', 'BB') then 0
        when btrim({{ column }}) ~ '^[0-9]{1,2}$' then nullif(btrim({{ column }})::integer, 0)
    end
{%- endmacro %}

{# Sex: lower-case m/f occur in older years (§1.7). #}
{% macro nibrs_sex(column) -%}
    upper(nullif(btrim({{ column }}), ''))
{%- endmacro %}

{# Race: `M` is outside the code list; Kaplan maps it to unknown (§1.7). #}
{% macro nibrs_race(column) -%}
    case upper(nullif(btrim({{ column }}), ''))
        when 'M' then 'U'
        else upper(nullif(btrim({{ column }}), ''))
    end
{%- endmacro %}

{#
    The key of an incident within its data year: a 64-bit hash of its ORI and incident
    number (incident numbers are unique only within an agency and a year, and may contain
    blanks and hyphens). Every segment's record computes it from its own fields, so the
    facts join on two narrow columns, (data_year, incident_key), and no record has to look
    its incident up. Two incidents of one year share a key with a probability of about
    n^2 / 2^65 (2e-6 for a year of 8 million incidents); the marts' primary keys would then
    refuse the year rather than merge them, and the error names the key.
#}
{% macro nibrs_incident_key(data_year, ori, incident_number) -%}
    hashtextextended({{ ori }} || '|' || {{ incident_number }}, {{ data_year }}::bigint)
{%- endmacro %}
