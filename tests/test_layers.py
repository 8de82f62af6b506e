"""The import rule of docs/architecture.md, checked from the import statements of every product
module (also those inside functions): a module imports only its own layer or lower ones, the
domain never imports Prefect, and no modules import each other in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> package, as pyproject.toml installs them
PACKAGES = {"lvas": "lvas", "storage": "lvas.storage", "kb": "lvas.kb", "tasks": "lvas.tasks", "flows": "lvas.flows"}
BASE = {"lvas.models", "lvas.settings", "lvas.errors", "lvas.keys", "lvas.registry", "lvas.text"}
ORDER = ["base", "storage", "kb", "domain", "tasks", "flows", "entry"]
ORCHESTRATORS = ("prefect", "prefect_dask")
ENTRY = {"lvas.cli", "lvas.console", "lvas.shots_cli"}  # the command line


def layer(module: str) -> str:
    if module in BASE or module == "lvas":
        return "base"
    for name in ("storage", "kb", "tasks", "flows"):
        if module == f"lvas.{name}" or module.startswith(f"lvas.{name}."):
            return name
    if module in ENTRY or module.startswith("deployments"):
        return "entry"
    return "domain"


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join([package, *rel]).removesuffix(".__init__")
            found[name] = path
    for path in sorted((ROOT / "deployments").glob("*.py")):
        found[f"deployments.{path.stem}"] = path
    return found


def imports(module: str, path: Path, known: dict[str, Path] | None = None) -> set[str]:
    """Every module ``path`` imports, anywhere in it, as absolute names (``from pkg import sub``
    counts as importing ``pkg.sub`` alone when that is a module of ``known``)."""
    got = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            got |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: -node.level]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            subs = {f"{base}.{a.name}" for a in node.names}
            got |= subs if known and subs <= known.keys() else {base, *subs}
    return got


def lvas_imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    return {m for m in imports(module, path, known) if m in known and m != module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: lvas_imports(m, p, known) for m, p in known.items()}


def test_the_checker_sees_every_layer(graph: dict[str, set[str]]) -> None:
    assert {layer(m) for m in graph} == set(ORDER)
    assert "lvas.flows.dub" in graph["lvas.cli"] or any(m.startswith("lvas.flows") for m in graph["lvas.cli"])


def test_no_module_imports_a_higher_layer(graph: dict[str, set[str]]) -> None:
    wrong = [f"{m} ({layer(m)}) imports {i} ({layer(i)})" for m, deps in graph.items() for i in sorted(deps)
             if ORDER.index(layer(i)) > ORDER.index(layer(m))]
    assert not wrong, "\n".join(wrong)


def test_prefect_stays_out_of_the_domain() -> None:
    wrong = [f"{m} imports {i}" for m, p in modules().items() if layer(m) in ("base", "storage", "kb", "domain")
             for i in imports(m, p) if i.split(".")[0] in ORCHESTRATORS]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    """Tarjan's strongly connected components over the module graph: each must be one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        for d in graph[m]:
            if d not in index:
                visit(d)
                low[m] = min(low[m], low[d])
            elif d in stack:
                low[m] = min(low[m], index[d])
        if low[m] == index[m]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == m:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in graph:
        if m not in index:
            visit(m)
    assert not cycles, cycles


def test_a_violation_is_caught(tmp_path: Path) -> None:
    """The checker itself: a storage module importing a task is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from lvas.tasks.mix import mix\n")
    deps = lvas_imports("lvas.storage.bad", bad, modules())
    assert "lvas.tasks.mix" in deps and ORDER.index(layer("lvas.tasks.mix")) > ORDER.index(layer("lvas.storage.bad"))
