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


def layer(module: str) -> str | None:
    """The layer of a project module; None for the test kit, which stands outside."""
    top, _, _ = module.partition(".")
    last = module.rsplit(".", 1)[-1]
    if top == "testkit":
        return None
    if top == "decoder":
        return "decoder"
    if top in ("dags", "dashboard"):
        return "dags"  # the entry points: Airflow's DAG files, the Streamlit app
    if last == "cli" or last.endswith("_cli"):
        return "orchestration"  # every command line is wiring, whatever package it sits in
    if top == "ml":
        return "ml"
    if any(module == p or module.startswith(p + ".") for p in SOURCES):
        return "sources"
    if module in CORE or module.startswith("crimewh.warehouse."):
        return "core"
    return "orchestration"  # pipeline, dag_support, airflow_runtime, service, cluster, …


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
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.partition(".")[0] in PACKAGES:
                found.add(name)
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
