"""The deployment as installed, not as checked out: the two wheels in a fresh virtual
environment, run from a folder that is not the checkout, with the project folder
(``dags/``, ``dbt_project/``, ``configuration/``) copied elsewhere as the image copies it.

What configuration/docker/Dockerfile does, offline: the wheels are built here and installed
without their dependencies; the dependencies are this checkout's .venv, reached through a
``.pth`` line (which puts its site-packages on the path but runs none of the ``.pth`` files
there, so the checkout's editable installs stay out).
"""

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from crimewh.settings import PROJECT_VARIABLE
from testkit.nibrs_synth import synthesize

pytestmark = [pytest.mark.installed, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[1]
YEAR = 2013  # a year no other test of the shared warehouse loads
INCIDENTS = 1_500
PROJECT_FOLDERS = ("dags", "dbt_project", "configuration")
PRIVATE = ("CRIMEWH_", "AIRFLOW", "DBT_", "PYTHONPATH", "VIRTUAL_ENV")


def run(command: list, env: dict, cwd: Path, timeout: float = 900) -> str:
    done = subprocess.run(
        [str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory, warehouse):
    """(the fresh venv's bin folder, its environment, a working folder that is not the
    checkout, the project folder)."""
    uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    top = tmp_path_factory.mktemp("installed")
    wheels, venv = top / "wheels", top / "venv"
    run([uv, "build", "--wheel", "--all-packages", "--offline", "-o", wheels], os.environ, REPO)
    run([uv, "venv", "--quiet", "--python", sys.executable, venv], os.environ, top)
    packages = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    (packages / "site-packages" / "_dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"
    )
    python = venv / "bin" / "python"
    run([uv, "pip", "install", "--offline", "--no-deps", "--python", python,
         *sorted(wheels.glob("*.whl"))], os.environ, top)  # fmt: skip

    project = top / "opt" / "crimewh"  # as the image lays it out
    leftovers = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO / folder, project / folder, ignore=leftovers)
    elsewhere = top / "work"
    (elsewhere / "data" / "landing").mkdir(parents=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(PRIVATE)}
    env.update({
        "PATH": os.pathsep.join([str(venv / "bin"), env.get("PATH", "")]),
        PROJECT_VARIABLE: str(project),
        "CRIMEWH_DATA_DIR": str(elsewhere / "data"),
        "CRIMEWH_WAREHOUSE_URL": warehouse.url,
        "CRIMEWH_TASK_RETRIES": "0",
        "AIRFLOW_HOME": str(elsewhere / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
    })  # fmt: skip
    synthesize(elsewhere / "data" / "landing" / f"nibrs-{YEAR}.zip", year=YEAR,
               incidents=INCIDENTS, seed=YEAR)  # fmt: skip
    return venv / "bin", env, elsewhere, project


def test_the_packages_come_from_the_wheels_not_the_checkout(installed):
    bin_dir, env, elsewhere, _ = installed
    script = (
        "import json, sys, crimewh, decoder, ml, importlib.util as u;"
        "print(json.dumps({'files': [crimewh.__file__, decoder.__file__, ml.__file__],"
        "'testkit': u.find_spec('testkit') is not None, 'path': sys.path}))"
    )
    found = json.loads(run([bin_dir / "python", "-c", script], env, elsewhere))
    venv = str(bin_dir.parent)
    assert all(path.startswith(venv) for path in found["files"]), found["files"]
    assert found["testkit"] is False  # the test kit ships in no wheel
    assert not [p for p in found["path"] if p.startswith(str(REPO)) and ".venv" not in p]


def test_nibrs_decode_runs_from_the_wheel(installed):
    bin_dir, env, elsewhere, _ = installed
    out = elsewhere / "decoded"
    zip_path = elsewhere / "data" / "landing" / f"nibrs-{YEAR}.zip"
    run([bin_dir / "nibrs-decode", zip_path, "--out", out, "--quiet"], env, elsewhere)
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["records"]["01"] == INCIDENTS
    assert summary["engine"] == "native"  # the wheel carries the compiled slicer


def test_the_backfill_dag_and_dbt_run_from_the_installed_package(installed, warehouse):
    from crimewh.warehouse import fetch

    bin_dir, env, elsewhere, project = installed
    python = bin_dir / "python"
    run([python, "-m", "airflow", "db", "migrate"], env, elsewhere)
    run([python, "-m", "airflow", "pools", "set", "warehouse", "2", "loads"], env, elsewhere)
    run([bin_dir / "crimewh", "dbt", "parse", "--quiet"], env, elsewhere)
    assert (project / "dbt_project" / "target" / "manifest.json").exists()
    conf = json.dumps({"first_year": YEAR, "last_year": YEAR})
    run([python, "-m", "airflow", "dags", "test", "nibrs_years_backfill", "-c", conf],
        env, elsewhere)  # fmt: skip
    count = "select count(*) from marts.fct_nibrs_incidents where data_year = %s"
    assert fetch(warehouse.settings, count, (YEAR,))[0][0] == INCIDENTS
    # and dbt by hand, as an operator would after a model change
    run([bin_dir / "crimewh", "dbt", "build", "--select", "fct_nibrs_incidents",
         "--vars", json.dumps({"nibrs_years": [YEAR]})], env, elsewhere)  # fmt: skip
    assert fetch(warehouse.settings, count, (YEAR,))[0][0] == INCIDENTS
