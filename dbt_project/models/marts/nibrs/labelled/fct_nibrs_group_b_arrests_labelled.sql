with

arrests as (

    select * from {{ ref('fct_nibrs_group_b_arrests') }}

),

final as (

    select
        arrests.*,

        ---------- labels
        {{ nibrs_arrestee_labels('arrests') }}

    from arrests
    {{ nibrs_arrestee_joins('arrests') }}

)

select * from final
