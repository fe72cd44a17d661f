"""The house's floors (docs/architecture.md), checked on the source: every import runs down a
floor, none runs across between the rooms of one floor, no import cycle, no long module, no
method name outside the methods' modules and no task module used outside the tasks' package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: package -> floor; a module may import from its own package and from lower floors only.
FLOORS = {"workbench": 1, "train": 2, "analyses": 2, "app": 3, "lwb": 4}
CAPPED = ("workbench", "train", "analyses", "app")
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in FLOORS for p in sorted((ROOT / package).rglob("*.py"))}


def imports(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports inside functions count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {m for m in imports(path, name) if m in mods and m != name}
            for name, path in mods.items()}


def floor(module: str) -> tuple[str, int]:
    package = module.split(".")[0]
    return package, FLOORS[package]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def upward(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in edges.items():
        (room, level) = floor(src)
        for dst in targets:
            (other, other_level) = floor(dst)
            if other_level > level or (other_level == level and other != room):
                bad.append(f"{src} -> {dst}")
    return sorted(bad)


def test_no_import_runs_up_a_floor_or_across_one():
    assert upward(graph()) == []


def test_no_import_cycle():
    # a cycle through a package's __init__ (a package importing its own modules, which import
    # the package's names) counts: the test sees every module-to-module import
    edges = graph()
    for name in list(edges):
        edges[name] = {d for d in edges[name] if not name.startswith(d + ".")}
    assert find_cycle(edges) is None


def test_the_guards_catch_what_they_guard():
    """Planted faults: an import that runs up, one across a floor, and a cycle."""
    assert upward({"workbench.capture": {"train.loop"}}) == ["workbench.capture -> train.loop"]
    assert upward({"train.loop": {"analyses.common"}}) == ["train.loop -> analyses.common"]
    assert upward({"lwb.cli": {"train.loop", "app.data"}, "app.data": {"analyses.common"}}) == []
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    tree = ROOT / "workbench" / "methods" / "__init__.py"
    assert "workbench.methods.base" in imports(tree, "workbench.methods")


@pytest.mark.parametrize("package", CAPPED)
def test_no_module_over_500_lines(package):
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings}


def test_no_method_name_outside_the_methods_modules():
    from workbench.imports import FORMATS as CHECKPOINT_FORMATS
    from workbench.methods import METHODS
    from workbench.tasks.loaders import FORMATS

    # a file format may share a method's name (iCoT's published text format is "icot",
    # Coconut's checkpoints are "coconut"): the loaders, the importer and the CLI's --format
    # speak of the file, not the method
    names = set(METHODS) - set(FORMATS) - set(CHECKPOINT_FORMATS)
    found = {}
    for package in (*FLOORS, "benchmarks", "experiments"):
        for path in (ROOT / package).rglob("*.py"):
            if path.is_relative_to(ROOT / "workbench" / "methods"):
                continue
            if hits := sorted(names & string_constants(path)):
                found[str(path.relative_to(ROOT))] = hits
    assert found == {}


def test_no_task_module_is_used_outside_the_tasks_package():
    """Question parsing and proof labels live in each task's module; the rest of the code asks
    the task (``workbench.tasks.Task``), never imports a task's module."""
    from workbench.tasks import TASKS

    task_modules = {f"workbench.tasks.{name}" for name in TASKS}
    users = {src: sorted(dst & task_modules) for src, dst in graph().items()
             if not src.startswith("workbench.tasks") and dst & task_modules}
    assert users == {}
