{#-
    Fails when the share of rows whose `column_name` equals `value` exceeds `max_share`
    (0-1): a drift alarm, e.g. for labels that no mapping knows. An empty model passes.
-#}
{% test value_share_at_most(model, column_name, value, max_share) %}

    with shares as (

        select
            count(*) filter (where {{ column_name }} = '{{ value }}') as matching,
            count(*) as total
        from {{ model }}

    )

    select
        matching,
        total,
        matching::numeric / total as share
    from shares
    where total > 0 and matching::numeric / total > {{ max_share }}

{% endtest %}
