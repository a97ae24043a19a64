{#-
    Typing of the Chicago columns. The pull writes typed Parquet (numbers from JSON strings,
    booleans, floating timestamps as Chicago local time) and the loader maps the Arrow types
    to PostgreSQL, so the raw types depend on choices upstream: every cast here goes through
    text, which gives the same result whether a column arrived as text or typed.
-#}

{# Text, blank as null. #}
{% macro chicago_text(column) -%}
    nullif(btrim({{ column }}::text), '')
{%- endmacro %}

{# A whole number (ward, community area, year), whether it arrived as text, integer or float. #}
{% macro chicago_integer(column) -%}
    case
        when btrim({{ column }}::text) ~ '^-?[0-9]+(\.0*)?$'
            then btrim({{ column }}::text)::numeric::integer
    end
{%- endmacro %}

{# A decimal number (coordinates). #}
{% macro chicago_double(column) -%}
    case
        when btrim({{ column }}::text) ~ '^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$'
            then btrim({{ column }}::text)::double precision
    end
{%- endmacro %}

{# A JSON checkbox: true/false, whether it arrived as a boolean or as text. #}
{% macro chicago_boolean(column) -%}
    case lower(btrim({{ column }}::text))
        when 'true' then true
        when 't' then true
        when 'false' then false
        when 'f' then false
    end
{%- endmacro %}

{#
    A floating timestamp (no zone; Chicago local time per the portal). If the loader stored
    it as timestamptz, convert it back to Chicago wall-clock time, not the session's zone,
    so that hours and days stay what the City recorded.
#}
{% macro chicago_local_timestamp(relation, column) -%}
    {%- set data_type = 'text' -%}
    {%- if execute -%}
        {%- for col in adapter.get_columns_in_relation(relation) -%}
            {%- if col.name == column -%}
                {%- set data_type = col.data_type | lower -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if 'with time zone' in data_type -%}
        ({{ column }} at time zone 'America/Chicago')
    {%- elif data_type.startswith('timestamp') -%}
        {{ column }}
    {%- else -%}
        nullif(btrim({{ column }}::text), '')::timestamp
    {%- endif -%}
{%- endmacro %}

{# A zero-padded code (beat 4, district 3), as the City writes them. #}
{% macro chicago_padded(column, width) -%}
    case
        when btrim({{ column }}::text) ~ '^[0-9]+(\.0*)?$'
            then lpad(btrim({{ column }}::text)::numeric::integer::text, {{ width }}, '0')
        else nullif(btrim({{ column }}::text), '')
    end
{%- endmacro %}

{#
    raw.chicago_crimes as loaded, or, before the first pull has created it, no rows in the
    same columns: a warehouse with only NIBRS data still builds (a NIBRS backfill runs the
    whole project). The view is recreated on every run, so it follows the first pull.
#}
{% macro chicago_raw_crimes(relation) -%}
    {%- if not execute or load_relation(relation) is not none -%}
        select * from {{ relation }}
    {%- else -%}
        {{ log("raw.chicago_crimes does not exist yet: the Chicago models build empty", info=true) }}
        select
            null::bigint as id,
            null::text as case_number,
            null::timestamp as date,
            null::text as block,
            null::text as iucr,
            null::text as primary_type,
            null::text as description,
            null::text as location_description,
            null::boolean as arrest,
            null::boolean as domestic,
            null::text as beat,
            null::text as district,
            null::bigint as ward,
            null::text as community_area,
            null::text as fbi_code,
            null::double precision as x_coordinate,
            null::double precision as y_coordinate,
            null::bigint as year,
            null::timestamp as updated_on,
            null::double precision as latitude,
            null::double precision as longitude,
            null::text as _partition,
            null::bigint as _load_id,
            null::timestamptz as _loaded_at
        where false
    {%- endif -%}
{%- endmacro %}
