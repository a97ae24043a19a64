"""The decoder is a distribution of its own: its wheel installs and runs without the project.

The wheel is built from decoder/ and installed, with its five dependencies only, into a
fresh virtual environment that has never seen the warehouse; there `nibrs-decode` must
decode a synthetic Deflate64 year exactly as the decoder in the project's environment does,
with the native slicer it compiled, while `crimewh`, `ml` and `testkit` cannot be imported.
No network: the dependencies' wheels are packed again from this environment's installs.
"""

import ast
import base64
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from decoder.decode import decode_zip, segment_schemas
from testkit.nibrs_synth import synthesize

REPO = Path(__file__).resolve().parent.parent
DEPENDENCIES = ("inflate64", "numpy", "pyarrow", "pyyaml", "tqdm")
# written by the installer, not part of what the wheel shipped
INSTALLER_FILES = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json", "uv_cache.json"}


def uv() -> str:
    found = shutil.which("uv") or REPO / ".tools" / "bin" / "uv"
    if not Path(found).exists():
        pytest.fail("uv is needed to build the decoder's wheel: run `make setup`")
    return str(found)


def repack(name: str, wheelhouse: Path) -> Path:
    """The wheel ``name`` was installed from, packed again from its installed files."""
    dist = metadata.distribution(name)
    info = next(f.parts[0] for f in dist.files if f.parts[0].endswith(".dist-info"))
    tags = [line.split(": ", 1)[1] for line in dist.read_text("WHEEL").splitlines()
            if line.startswith("Tag: ")]  # fmt: skip
    stem = f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}"
    path = wheelhouse / f"{stem}-{tags[0]}.whl"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        for file in dist.files:
            posix = file.as_posix()
            # scripts live outside site-packages; an installer writes them from the metadata
            if posix.startswith("..") or "__pycache__" in posix:
                continue
            if posix.startswith(f"{info}/") and file.name in INSTALLER_FILES:
                continue
            data = Path(file.locate()).read_bytes()
            wheel.writestr(posix, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            writer.writerow([posix, f"sha256={digest.decode()}", len(data)])
        writer.writerow([f"{info}/RECORD", "", ""])
        wheel.writestr(f"{info}/RECORD", record.getvalue())
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding the decoder's wheel and its dependencies, nothing else."""
    root = tmp_path_factory.mktemp("decoder-package")
    wheelhouse = root / "wheelhouse"
    wheelhouse.mkdir()
    subprocess.run(
        [uv(), "build", "--offline", "--wheel", "--quiet", "--out-dir", str(wheelhouse),
         str(REPO / "decoder")],
        check=True,
    )  # fmt: skip
    wheel = next(wheelhouse.glob("nibrs_decoder-*.whl"))
    for name in DEPENDENCIES:
        repack(name, wheelhouse)
    venv = root / "venv"
    # the interpreter this venv was made from, not this venv's: nothing of it is inherited
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [uv(), "pip", "install", "--quiet", "--offline", "--no-index", "--find-links",
         str(wheelhouse), "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
    )  # fmt: skip
    return venv


def run_there(venv: Path, argv: list, cwd: Path) -> subprocess.CompletedProcess:
    """Run in the fresh venv, away from the checkout (nothing of it on sys.path)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(
        argv, cwd=cwd, env={**environ, "PATH": f"{venv / 'bin'}:{environ.get('PATH', '')}"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_wheel_holds_the_decoder_and_nothing_else(installed, tmp_path):
    wheel = next((installed.parent / "wheelhouse").glob("nibrs_decoder-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names}
    assert packages == {"decoder", "nibrs_decoder-0.1.0.dist-info"}
    assert {"decoder/nibrs_layouts.yml", "decoder/_slicer.so", "decoder/cli.py"} <= set(names)
    assert not {"decoder/hatch_build.py", "decoder/pyproject.toml"} & set(names)
    listed = subprocess.run(
        [uv(), "pip", "list", "--format", "json", "--python", str(installed / "bin" / "python")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    distributions = {d["name"].lower() for d in json.loads(listed.stdout)}
    assert distributions == {"nibrs-decoder", *DEPENDENCIES}
    where = run_there(installed, ["python", "-c", "import decoder; print(decoder.__file__)"],
                      tmp_path)  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(installed)  # not the checkout's


def test_nibrs_decode_runs_alone_and_decodes_as_the_project_does(installed, tmp_path):
    zip_path = tmp_path / "nibrs-2022.zip"
    synthesize(zip_path, year=2022, incidents=400, seed=5, deflate64=True)
    done = run_there(
        installed, ["nibrs-decode", str(zip_path), "--out", str(tmp_path / "alone"), "--quiet"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "alone" / "_summary.json").read_text())
    assert summary["engine"] == "native"  # the slicer the wheel compiled, found as package data
    assert summary["compression"] == "deflate64"
    decode_zip(zip_path, tmp_path / "here")
    for segment in segment_schemas():
        alone = pq.read_table(tmp_path / "alone" / segment)
        assert alone.num_rows == summary["rows"][segment]
        assert alone.equals(pq.read_table(tmp_path / "here" / segment)), segment


@pytest.mark.parametrize("module", ["crimewh", "ml", "testkit"])
def test_nothing_of_the_warehouse_comes_with_it(installed, tmp_path, module):
    done = run_there(installed, ["python", "-c", f"import {module}"], tmp_path)
    assert done.returncode == 1
    assert f"No module named '{module}'" in done.stderr


def test_no_module_of_the_decoder_imports_the_warehouse():
    """Also the imports no decode reaches (a function's own, a rare branch's)."""
    for path in sorted((REPO / "decoder").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in {"crimewh", "ml", "testkit"}, f"{path.name} imports {name}"
