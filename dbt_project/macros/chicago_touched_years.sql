{#- The years that pull batches loaded since this aggregate's last build touched: a Chicago
    aggregate recomputes each of them whole (delete+insert on year). -#}
{% macro chicago_touched_years() %}
    year in (
        select distinct touched.year as touched_year
        from {{ ref('fct_chicago_crimes') }} as touched
        where
            touched.source_loaded_at > (
                select
                    coalesce(max(built.source_loaded_at), '-infinity'::timestamptz)
                        as loaded_at
                from {{ this }} as built
            )
    )
{% endmacro %}
