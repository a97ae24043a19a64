"""The import structure: layers only point down, no module circle, the test kit stays out.

    decoder  <-  crimewh (core, then sources, transform, quality)  <-  ml
             <-  crimewh_orchestration  <-  dags, dashboard

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
    "crimewh_orchestration": "plugins/crimewh_orchestration",
    "testkit": "plugins/testkit",
    "dags": "dags",
    "dashboard": "dashboard",
}
LAYERS = ("decoder", "core", "sources", "ml", "orchestration", "dags")
# each folder is one layer or, for crimewh, the two lowest floors: core below the sources
FOLDER_LAYERS = {"decoder": "decoder", "ml": "ml", "crimewh_orchestration": "orchestration",
                 "dags": "dags", "dashboard": "dags"}  # fmt: skip
SOURCES = ("crimewh.nibrs_ingest", "crimewh.chicago", "crimewh.dbt", "crimewh.quality")
ROOT = Path(__file__).resolve().parents[1]
# spelled in pieces, so that this file does not match itself
OUTSIDE_MARKERS = (b"../" + b"shared", b"shared/" + b"reference")


def layer(module: str) -> str | None:
    """The layer of a project module: its folder's; None for the test kit, which stands
    outside."""
    top = module.partition(".")[0]
    if top == "testkit":
        return None
    if top == "crimewh":
        sources = any(module == p or module.startswith(p + ".") for p in SOURCES)
        return "sources" if sources else "core"
    return FOLDER_LAYERS[top]


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


def test_folders_point_down_only():
    """The picture of the folders has no arrow back up: crimewh (core and sources) imports
    neither ml nor the orchestration, and ml imports no orchestration."""
    below = {"crimewh": {"decoder", "crimewh"}, "ml": {"decoder", "crimewh", "ml"},
             "crimewh_orchestration": set(PACKAGES) - {"testkit", "dags", "dashboard"}}  # fmt: skip
    upward = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in sorted(targets)
        if module.partition(".")[0] in below
        and target.partition(".")[0] not in below[module.partition(".")[0]]
    ]
    assert not upward, "\n".join(upward)


def test_ml_is_given_a_warehouse_and_a_lake_not_the_settings():
    """The models take a ``Workspace`` (a warehouse URL, a lake, threads, folders); reading
    the environment is the orchestration's job."""
    reading = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("ml")
        for target in sorted(targets)
        if target.startswith(("crimewh.settings", "crimewh.warehouse.stack"))
    ]
    assert not reading, "\n".join(reading)


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
    [("decoder.decode", "decoder"), ("crimewh.settings", "core"),
     ("crimewh.warehouse.loader", "core"), ("crimewh.notify", "core"),
     ("crimewh.chicago.pull", "sources"), ("crimewh.quality.run", "sources"), ("ml.train", "ml"),
     ("crimewh_orchestration.chicago_cli", "orchestration"),
     ("crimewh_orchestration.pipeline", "orchestration"),
     ("dags.crime_warehouse_nightly", "dags"), ("dashboard.app", "dags"),
     ("testkit.bench", None)],
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
