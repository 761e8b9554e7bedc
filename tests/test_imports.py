"""Every module imports on its own, first thing in a fresh interpreter: an import cycle that the
usual import order hides (the suite, `houqin run`) would still break `make bench` or a job runner."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("handlers", "storage", "jobs", "bot", "bench")

# In one interpreter: each module imported after forgetting every project module of its own layer
# and the layers above it imported before it. The layers below stay loaded: they never import upward
# (the layers contract, pyproject's [tool.importlinter]), so no cycle of this layer's can pass through
# them, and each of them was itself imported first, with everything above forgotten, earlier on.
# (Forgetting storage.models each time too made this one test a 40 s share of the suite.) The garbage
# collector is off: every module forgotten is garbage it would walk again and again, and this
# short-lived process then takes a quarter less time (16-18 -> 12-14 s; 430 MiB at most, not 280).
PROBE = """
import gc, importlib, sys
gc.disable()
above = {above!r}
failed = []
for name in sys.argv[1:]:
    forget = above[name.split(".")[0]]
    for loaded in [m for m in sys.modules if m.split(".")[0] in forget]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{{name}}: {{exc!r}}")
print("\\n".join(failed))
"""
# Bottom to top; a package and everything above it.
LAYERED = ("storage", "handlers", "jobs", "bot", "bench")


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "__main__.py" or "migrations" in path.parts:
                continue  # run as programs (Alembic runs migrations/env.py inside its own context)
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


@pytest.mark.subprocess  # a fresh Python per module
def test_every_module_imports_first() -> None:
    # Lowest layer first, so a layer is probed only once those below it were.
    names = sorted(modules(), key=lambda name: LAYERED.index(name.split(".")[0]))
    assert "handlers.core.org_settings" in names and "bench.digest" in names
    assert set(LAYERED) == set(PACKAGES)
    above = {package: set(LAYERED[LAYERED.index(package) :]) for package in LAYERED}
    probe = PROBE.format(above=above)
    result = subprocess.run(
        [sys.executable, "-c", probe, *names], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", result.stdout


# --- no import cycles -----------------------------------------------------------------------------

LAYERS = ("handlers", "bot", "storage", "jobs")


@functools.cache  # parsing every module takes a second or two; three tests read the graph, none changes it
def project_imports() -> dict[str, set[str]]:
    """Each module of LAYERS → the modules of LAYERS it imports, at the top or inside a function (an
    import moved into a function to dodge a cycle is still the cycle); `if TYPE_CHECKING:` imports
    never run, so they are not counted."""
    files = {name: ROOT.joinpath(*name.split(".")) for name in modules() if name.split(".")[0] in LAYERS}
    files = {name: path / "__init__.py" if path.is_dir() else path.with_suffix(".py") for name, path in files.items()}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        found: set[str] = set()
        stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    stack.extend(child.orelse)
                    continue
                if isinstance(child, ast.Import):
                    found |= {alias.name for alias in child.names if alias.name in files}
                elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                    # `from handlers.core import menus` imports handlers.core.menus, as `from ….menus import x` does.
                    submodules = {f"{child.module}.{alias.name}" for alias in child.names} & files.keys()
                    found |= submodules
                    if child.module in files and len(submodules) < len(child.names):
                        found.add(child.module)
                stack.append(child)
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def test_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    graph = project_imports()
    assert "storage.models" in graph["handlers.repairs.tickets"] and "bot.app" in graph["bot.cli"]  # inside a function
    found = cycles(graph)
    assert found == [], "import cycles (each group imports itself round): " + "; ".join(
        " ".join(group) for group in found
    )


# --- the core imports no area ---------------------------------------------------------------------

# What Houqin is made of whatever it does: everything under handlers/core/ (areas plug into it,
# handlers/core/area.py, never the reverse), and the jobs' bookkeeping.
AREA_PACKAGES = (
    "accounts",
    "admin",
    "bookings",
    "digest",
    "energy",
    "inspections",
    "repairs",
    "suggestions",
    "supplies",
    "surveys",
)
CORE = tuple(name for name in modules() if name.startswith("handlers.core"))
CORE += ("jobs.runs", "jobs.scheduler")
# The areas and the modules only they use: one package each.
AREA_MODULES = frozenset(name for name in modules() if name.split(".")[:2][-1] in AREA_PACKAGES)


def reached(graph: dict[str, set[str]], module: str) -> set[str]:
    """Every module `module` imports, directly or through others."""
    found: set[str] = set()
    stack = [module]
    while stack:
        for imported in graph[stack.pop()] - found:
            found.add(imported)
            stack.append(imported)
    return found


def test_every_area_is_known_as_one() -> None:
    declaring = {
        name
        for name in modules()
        if name.startswith("handlers.")
        and ROOT.joinpath(*name.split(".")).with_suffix(".py").is_file()
        and "\nAREA = Area(" in ROOT.joinpath(*name.split(".")).with_suffix(".py").read_text(encoding="utf-8")
    }
    # One module of each area in bot/areas.AREAS declares it (counted there: one line an area).
    listed = (ROOT / "bot" / "areas.py").read_text(encoding="utf-8").count(".AREA,")
    assert len(declaring) == listed and declaring <= AREA_MODULES, declaring - AREA_MODULES
    assert (
        "handlers.core.engine" in CORE and "handlers.core.digest" in CORE and "handlers.repairs.tickets" in AREA_MODULES
    )
    assert not AREA_MODULES & set(CORE)


def test_the_core_imports_no_area() -> None:
    """Not at the top, not inside a function, not through another module."""
    graph = project_imports()
    assert "handlers.core.sends" in reached(graph, "handlers.core.reminders")  # through imports, not only direct ones
    found = {module: sorted(reached(graph, module) & AREA_MODULES) for module in CORE}
    assert {module: areas for module, areas in found.items() if areas} == {}


def test_channels_never_touch_the_database_themselves() -> None:
    """A channel translates a platform; what it must know it asks handlers for (bot/channels/contract.py)."""
    graph = project_imports()
    channels = [module for module in graph if module.startswith("bot.channels.")]
    assert "bot.channels.web.channel" in channels and "bot.channels.slack.files" in channels
    touching = {module: sorted(i for i in graph[module] if i.split(".")[0] == "storage") for module in channels}
    assert {module: found for module, found in touching.items() if found} == {}
