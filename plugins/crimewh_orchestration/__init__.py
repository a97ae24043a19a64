"""The roof: the command line, the pipeline's steps as the DAGs call them, Airflow's and
the cluster's processes, the service and the dashboard's runtime. It wires the layers
below (crimewh's core and sources, then ml); nothing below imports it."""
