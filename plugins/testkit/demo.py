"""`make demo`: the whole pipeline once, on the embedded stack and synthetic data.

1. the embedded PostgreSQL (warehouse and Airflow metadata);
2. a local SODA server with synthetic Chicago crimes, which the nightly pull reads over HTTP;
3. a synthetic NIBRS year dropped into the landing area, as a user would drop the FBI zip;
4. Airflow (scheduler, triggerer, API server), and the nightly DAG triggered through its
   REST API as the UI's Trigger button does, followed to the end;
5. what landed: rows per mart, the models' metrics, how to query and where the UI is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

from crimewh.settings import Settings


def run_demo(
    settings: Settings, *, year: int, incidents: int, chicago_rows: int, echo=print
) -> int:
    from crimewh.warehouse import stack
    from crimewh_orchestration import airflow_runtime
    from testkit.chicago_synth import synthesize as synthesize_chicago
    from testkit.chicago_synth import truth_path_for, write_truth
    from testkit.nibrs_synth import synthesize as synthesize_nibrs
    from testkit.soda_server import Dataset, SodaServer

    started = time.perf_counter()
    step = _steps(echo, started)
    step("starting the embedded stack")
    stack.up(settings, echo=lambda line: echo(f"    {line}"))
    settings = Settings.load(settings.as_environment())  # with what the stack started

    step(f"serving {chicago_rows:,} synthetic Chicago crimes over a local SODA API")
    synthetic = synthesize_chicago(chicago_rows, seed=2026)
    # where the arrest model looks for the truth of synthetic rows (<data>/chicago/**)
    truth = truth_path_for(settings.data_dir / "chicago" / "truth" / "demo.json")
    truth.parent.mkdir(parents=True, exist_ok=True)
    write_truth(truth, synthetic.truth)
    server = SodaServer(Dataset.from_wire_table(synthetic.table)).start()
    settings = dataclasses.replace(settings, soda_domain=server.domain)
    try:
        landing = settings.data_dir / "landing"
        landing.mkdir(parents=True, exist_ok=True)
        zip_path = landing / f"nibrs-{year}.zip"
        step(f"dropping a synthetic NIBRS {year} ({incidents:,} incidents) into {landing}")
        if not zip_path.exists():
            synthesize_nibrs(zip_path, year=year, incidents=incidents, seed=year, deflate64=True)

        step("starting Airflow (metadata schema, warehouse pool, dbt manifest, scheduler)")
        # a retry would only hide the error in a demo; nothing runs by itself but the nightly
        extra = {"CRIMEWH_TASK_RETRIES": os.environ.get("CRIMEWH_TASK_RETRIES", "0"),
                 "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}  # fmt: skip
        airflow = airflow_runtime.up(
            settings, extra_env=extra, echo=lambda line: echo(f"    {line}")
        )
        try:
            step("triggering the nightly DAG; each task as it finishes:")
            state = _run_nightly(settings, started, echo)
        finally:
            airflow_runtime.down(settings, echo=lambda _: None, stack_too=False)
        if state != "success":
            echo(f"\nThe nightly run {state}; the task logs are under {airflow['airflow_home']}"
                 "/logs (or `make up` and open the run in the UI)")  # fmt: skip
            return 1
    finally:
        server.stop()

    summaries = sorted((settings.data_dir / "runs").glob("run-*.json"))
    summary = json.loads(summaries[-1].read_text())
    _report(settings, summary, started, echo)
    return _dashboard(settings, echo)


def _dashboard(settings: Settings, echo) -> int:
    """Start the dashboard on what the run built; its URL is the demo's last line."""
    from crimewh_orchestration import dashboard_runtime

    try:
        report = dashboard_runtime.up(settings, echo=lambda line: echo(f"    {line}"))
    except dashboard_runtime.DashboardError as error:
        echo(f"\nThe dashboard did not start: {error}")
        return 1
    echo(
        f"\nThe dashboard (the marts and models in the browser, read as the analyst; "
        f"`make down` stops it):\n  {report['url']}"
    )
    return 0


def _run_nightly(settings, started, echo) -> str:
    """Trigger the nightly through the REST API and follow it to its end, a line per task
    as it finishes (the dbt models' own tasks counted, not listed: one `dbt build` runs
    them all); the run's final state."""
    from crimewh_orchestration import airflow_runtime

    dag_id = "crime_warehouse_nightly"
    api = airflow_runtime.client(settings)
    api.wait_for_dags({dag_id})
    status, run = api.trigger(dag_id)
    if status != 200:
        raise RuntimeError(f"Airflow refused to trigger {dag_id}: {status} {run}")
    reported: set[str] = set()
    models: dict[str, int] = {}
    while True:
        state = api.run_state(dag_id, run["dag_run_id"])
        for task, task_state in api.task_states(dag_id, run["dag_run_id"]).items():
            if task in reported or task_state not in _FINISHED:
                continue
            reported.add(task)
            group, _, name = task.rpartition(".")
            if group and name != "dbt_producer_watcher":
                models[group] = models.get(group, 0) + 1
                continue
            label = f"{group}: dbt build" if group else task
            done = "done" if task_state == "success" else task_state
            echo(f"[{time.perf_counter() - started:5.0f}s]    {label} {done}")
        if state in ("success", "failed"):
            break
        time.sleep(2)
    for group, count in models.items():
        echo(f"           {group}: {count} model and test tasks followed the build")
    return state


_FINISHED = ("success", "failed", "upstream_failed", "skipped")


def _steps(echo, started):
    counter = iter(range(1, 100))

    def step(text: str) -> None:
        echo(f"[{time.perf_counter() - started:5.0f}s] {next(counter)}. {text}")

    return step


def _report(settings: Settings, summary: dict, started: float, echo) -> None:
    from crimewh.settings import redact
    from crimewh.warehouse.stack import StackState

    echo(f"\nDone in {time.perf_counter() - started:.0f}s. Rows per mart:")
    for table, rows in summary["marts"].items():
        echo(f"  {table:<48} {rows:>10,}")
    echo("\nModels (test window, later than the training data):")
    for model in summary["steps"].get("models", []):
        echo(f"  {json.dumps(model)}")
    runs = sorted((settings.data_dir / "runs").glob("run-*.json"))
    opened = [
        ("the run summary", runs[-1] if runs else settings.data_dir / "runs"),
        ("the quality data docs", settings.data_dir / "quality" / "data_docs" / "index.html"),
        *((f"the {model} model card", card) for model, card in _model_cards(settings)),
        ("the dbt docs", "make docs   (or .venv/bin/crimewh dbt docs serve)"),
    ]
    echo("\nWhat to open:")
    for what, where in opened:
        echo(f"  {what + ':':<28} {where}")
    state = StackState.load(settings.data_dir)
    port = f" on 127.0.0.1:{state.postgres_port}" if state else ""
    echo(
        "\nQuery the marts as the analyst (read-only; marts and ml schemas only):\n"
        "  .venv/bin/crimewh stack psql --role analyst -c "
        "'select * from marts.agg_nibrs_agency_year_offenses limit 5'\n"
        f"  warehouse: {redact(settings.warehouse_url)}\n"
        "See the nightly run in the Airflow UI: make up   (prints the URL and the admin "
        "password)\n"
        f"\nPostgreSQL is still running{port}, with everything above in it; `make down` "
        "stops it (the data stays in the data folder)."
    )


def _model_cards(settings: Settings) -> list[tuple[str, str]]:
    """Each champion's model card, where the registry keeps it."""
    from crimewh_orchestration.workspace import ml_workspace
    from ml.registry import Registry

    registry = Registry(ml_workspace(settings))
    cards = []
    for model in ("clearance", "arrest"):
        champion = registry.champion(model)
        if champion:
            cards.append((model, f"{registry.uri(model, champion['version'])}/card.md"))
    return cards
