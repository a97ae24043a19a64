"""The models as a service: a JSON prediction API, a CSV upload page whose files are scored
as Airflow batch jobs, and a health endpoint (FastAPI, run by `crimewh serve`)."""
