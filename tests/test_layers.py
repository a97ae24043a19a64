"""The import structure: layers only point down, no module circle, the test kit stays out.

    decoder  <-  core  <-  sources, transform, quality  <-  ml  <-  orchestration  <-  dags

Read from the source with ``ast`` (every import, module-level or inside a function, since a
function-local import is a dependency all the same); nothing is imported or run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGES = {  # import name -> folder, relative to the checkout
    "decoder": "decoder",
    "crimewh": "plugins/crimewh",
    "ml": "ml",
    "testkit": "plugins/testkit",
    "dags": "dags",
    "dashboard": "dashboard",
}
LAYERS = ("decoder", "core", "sources", "ml", "orchestration", "dags")
CORE = ("crimewh", "crimewh.settings", "crimewh.lake", "crimewh.processes", "crimewh.failpoints",
        "crimewh.notify", "crimewh.warehouse")  # fmt: skip
SOURCES = ("crimewh.nibrs_ingest", "crimewh.chicago", "crimewh.dbt", "crimewh.quality")
ROOT = Path(__file__).resolve().parents[1]
# spelled in pieces, so that this file does not match itself
OUTSIDE_MARKERS = (b"../" + b"shared", b"shared/" + b"reference")


def layer(module: str) -> str | None:
    """The layer of a project module; None for the test kit, which stands outside."""
    top, _, _ = module.partition(".")
    last = module.rsplit(".", 1)[-1]
    rules = (
        (top == "testkit", None),
        (top == "decoder", "decoder"),
        # the entry points: Airflow's DAG files, the Streamlit app
        (top in ("dags", "dashboard"), "dags"),
        # every command line is wiring, whatever package it sits in
        (last == "cli" or last.endswith("_cli"), "orchestration"),
        (top == "ml", "ml"),
        (any(module == p or module.startswith(p + ".") for p in SOURCES), "sources"),
        (module in CORE or module.startswith("crimewh.warehouse."), "core"),
    )
    # what is left (pipeline, dag_support, airflow_runtime, service, cluster, …) is wiring
    return next((name for matches, name in rules if matches), "orchestration")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package, folder in PACKAGES.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")) if base.is_dir() else []:
            if "__pycache__" in path.parts:
                continue
            parts = [p for p in path.relative_to(base).with_suffix("").parts if p != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


def imports(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports, each resolved to the longest known name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            module = name
            while module and module not in known:
                module = module.rpartition(".")[0]
            if module and module.partition(".")[0] in PACKAGES:
                found.add(module)
    return found


MODULES = project_modules()
GRAPH = {name: imports(path, set(MODULES)) - {name} for name, path in MODULES.items()}


def test_every_module_has_a_layer_and_the_map_is_not_empty():
    assert len(MODULES) > 50
    assert {layer(m) for m in MODULES} >= set(LAYERS)


def test_imports_point_down_only():
    upward = [
        f"{module} ({layer(module)}) imports {target} ({layer(target)})"
        for module, targets in GRAPH.items()
        for target in sorted(targets)
        if layer(module) and layer(target)
        and LAYERS.index(layer(target)) > LAYERS.index(layer(module))
    ]  # fmt: skip
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_the_product_never_imports_the_test_kit():
    reaching = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if layer(module)
        for target in sorted(targets)
        if target.startswith("testkit")
    ]
    assert not reaching, "\n".join(reaching)


def test_the_decoder_imports_nothing_of_the_warehouse():
    outside = {t for m, ts in GRAPH.items() if m.startswith("decoder") for t in ts}
    assert {t.partition(".")[0] for t in outside} <= {"decoder"}


def test_no_module_circles():
    """No set of modules that import each other, however indirectly (Tarjan's SCCs)."""
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in GRAPH:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert not circles, "modules that import each other: " + "; ".join(map(str, circles))


@pytest.mark.parametrize(
    ("module", "expected"),
    [("decoder.decode", "decoder"), ("crimewh.settings", "core"), ("crimewh.warehouse.loader",
     "core"), ("crimewh.chicago.pull", "sources"), ("crimewh.chicago.cli", "orchestration"),
     ("ml.train", "ml"), ("ml.cli", "orchestration"), ("crimewh.pipeline", "orchestration"),
     ("dags.crime_warehouse_nightly", "dags"), ("testkit.bench", None)],
)  # fmt: skip
def test_the_layer_map(module, expected):
    assert layer(module) == expected


def test_nothing_in_the_project_reaches_outside_the_checkout():
    """A user's clone is all there is: no file may point at a `shared/` folder beside it."""
    import subprocess

    tracked = subprocess.run(  # what a clone holds
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    offenders = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if path.suffix in {".parquet", ".zip", ".png", ".lock", ".so"} or not path.is_file():
            continue
        text = path.read_bytes()
        if any(marker in text for marker in OUTSIDE_MARKERS):
            offenders.append(name.decode())
    assert not offenders, f"files that refer to a folder beside the checkout: {offenders}"
