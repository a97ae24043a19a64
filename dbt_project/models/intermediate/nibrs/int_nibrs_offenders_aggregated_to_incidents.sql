-- One row per incident: its offender records (05). Sequence 00 means the offenders are unknown.

with

offenders as (

    select * from {{ ref('stg_nibrs__offenders') }}

)

select
    _partition,
    data_year,
    incident_id,
    count(*) filter (where not is_unknown_offender)::integer as offender_count,
    coalesce(bool_or(is_unknown_offender), false) as has_unknown_offender
from offenders
group by _partition, data_year, incident_id
