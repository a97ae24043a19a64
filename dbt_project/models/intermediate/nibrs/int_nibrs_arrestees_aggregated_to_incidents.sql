-- One row per incident with arrestee records (06): how many, and when the first arrest was.

with

arrestees as (

    select * from {{ ref('stg_nibrs__arrestees') }}

)

select
    _partition,
    data_year,
    incident_id,
    count(*)::integer as arrestee_count,
    min(arrest_date) as first_arrest_date
from arrestees
group by _partition, data_year, incident_id
