{%- set months = [
    'jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'
] -%}
-- One row per agency, data year and month: the batch header's three monthly flags.

with

batch_headers as (

    select * from {{ ref('stg_nibrs__batch_headers') }}

),

unpivoted as (

    {%- for month in months %}
    select
        _partition,
        data_year,
        ori,
        {{ loop.index }} as month_number,
        {{ month }}_zero_report as zero_report_submitted,
        {{ month }}_group_a_b as group_a_b_submitted,
        {{ month }}_window as window_submitted
    from batch_headers
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select * from unpivoted
