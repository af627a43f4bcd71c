"""The package's layers, read from its source. Each subpackage may import only the subpackages
:data:`MAY_IMPORT` lists for it (its docstring says the same), so dependencies point one way and
no two subpackages import each other, however indirectly; at the top of ``src/longtail`` are
only the command line, the errors and the subpackages. No module imports ``longtail`` inside a
function to dodge a cycle; no module imports another's private names. Exceptions are listed with
their reason, per function, and an exception that is no longer needed fails too, so the lists
only shrink."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "longtail"
REPORTING = "longtail.reporting"

# What each subpackage may import of the package besides itself, bottom to top: the file layer
# and the configuration; the experiment layers (data, estimators, label errors, training); the
# reporting layer; and the workflow, which the rules import at parse time (no torch, no
# drawing). The top-level modules: `errors` is under everything, `cli` over everything.
EXPERIMENTS = ("errors", "store", "config", "data", "estimators", "labels", "train")
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "store": {"errors"},
    "config": {"errors"},
    "data": {"errors", "store", "config"},
    "estimators": {"errors", "store", "config", "data"},
    "labels": {"errors", "store", "config", "data", "estimators"},
    "train": {"errors", "store", "config", "data", "estimators", "labels"},
    "reporting": set(EXPERIMENTS),
    "workflow": {"errors", "store", "config", "data", "estimators", "labels"},
    "cli": {*EXPERIMENTS, "reporting", "longtail"},  # `longtail`: __version__
    "__main__": {"cli"},
    "longtail": {"estimators"},  # the package itself: longtail.estimate and Result (PEP 562)
}
MAX_TOP_ENTRIES = 12  # files and folders in src/longtail, as a newcomer lists them

# Each subcommand of the command line imports what it runs when it runs, so that `longtail
# --help`/`--version` load no numpy and `longtail estimate` no pandas, matplotlib or scipy
# (tests/test_cli.py checks sys.modules); the parser itself reads only longtail.config.defaults.
CLI_SUBCOMMAND = "a subcommand imports what it runs, so the others and --help start fast"
CLI_RUNS = ("run_estimate", "run_pairs", "run_consistency", "run_scores", "run_explain",
            "run_import_demo", "run_import_datamodels", "run_import_released", "run_agreement",
            "run_explorer", "run_trials_curve", "run_plan", "_labels")
# (module, function) -> why that function imports longtail
LAZY_ALLOWED = {
    ("longtail", "__getattr__"): "`import longtail` must not load the API's numpy and pandas; "
                                 "longtail.estimate/Result import it on first use (PEP 562)",
    ("longtail.cli", "run_models"): "torch is optional, and `longtail --help` must not load it",
    **{("longtail.cli", name): CLI_SUBCOMMAND for name in CLI_RUNS},
}
# (importing module, imported module, name) -> why a private name crosses modules
PRIVATE_ALLOWED: dict[tuple[str, str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(path): ast.parse(path.read_text(), str(path))
            for path in sorted(PACKAGE.rglob("*.py"))}


def is_package(module: str) -> bool:
    return (SRC / module.replace(".", "/") / "__init__.py").exists()


def imported(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """(module imported, name or "") for every name an import statement binds, relative
    imports resolved against ``module``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, ""
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package(module) else module.split(".")[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join([*package, *([base] if base else [])])
    for alias in node.names:
        yield base, alias.name


def own(target: str) -> bool:
    return target == "longtail" or target.startswith("longtail.")


def function_imports(tree: ast.AST, function: str | None = None
                     ) -> Iterator[tuple[str, ast.Import | ast.ImportFrom]]:
    """(innermost enclosing function, import statement) for every import inside a function."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from function_imports(node, getattr(node, "name", "<lambda>"))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if function is not None:
                yield function, node
        else:
            yield from function_imports(node, function)


def unit(name: str) -> str:
    """The subpackage or top-level module of the package that module ``name`` belongs to
    (``longtail`` for the package's own ``__init__``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "longtail"


def imported_units(module: str, tree: ast.AST) -> Iterator[tuple[str, str]]:
    """(unit, "module:line imports name") for every import of the package by ``module``,
    wherever it stands (a function's imports count too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target, name in imported(module, node):
                if not own(target):
                    continue
                full = f"{target}.{name}" if name else target
                # `from longtail import cli` imports the unit cli; `from longtail import
                # __version__` the package itself
                target = full if target == "longtail" and name and is_module(full) else target
                yield unit(target), f"{module}:{node.lineno} imports {full}"


def layer_violations(module: str, tree: ast.AST) -> list[str]:
    """What ``module`` imports of a subpackage its own may not import (:data:`MAY_IMPORT`)."""
    own_unit = unit(module)
    allowed = MAY_IMPORT.get(own_unit, set())
    return [f"{message} ({own_unit} may import {', '.join(sorted(allowed)) or 'nothing'})"
            for target, message in imported_units(module, tree)
            if target != own_unit and target not in allowed]


def unit_graph(trees: Mapping[str, ast.AST]) -> dict[str, set[str]]:
    """Which units import which, from the source."""
    graph: dict[str, set[str]] = {}
    for module, tree in trees.items():
        graph.setdefault(unit(module), set()).update(
            target for target, _ in imported_units(module, tree) if target != unit(module))
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """A cycle of ``graph`` as a path (first node repeated at the end), or [] if it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def docstring_imports(tree: ast.Module) -> set[str]:
    """The subpackages the first sentence of a docstring's "May import" names."""
    doc = ast.get_docstring(tree) or ""
    match = re.search(r"May import(.*?)\.\s", doc + " ", re.S)
    return {unit(name) for name in re.findall(r":mod:`(longtail\.\w+)`", match.group(1))
            } if match else set()


def lazy_imports(module: str, tree: ast.AST) -> list[tuple[str, str]]:
    """(function, message) for each of the package's own modules that ``module`` imports
    inside a function."""
    return [(function, f"{module}:{node.lineno} imports {target} in {function}")
            for function, node in function_imports(tree)
            for target, _ in imported(module, node) if own(target)]


def private_imports(module: str, tree: ast.AST) -> list[tuple[str, str, str]]:
    """(module, other module, name) for each private name of another module of the package
    that ``module`` imports, or reads as an attribute of a module it imported."""
    found, aliases = [], {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        for (target, name), alias in zip(imported(module, node), node.names, strict=True):
            if not own(target):
                continue
            if name and name.startswith("_") and not name.startswith("__") \
                    and target != module:
                found.append((module, target, name))
            elif name and is_module(f"{target}.{name}"):
                aliases[alias.asname or name] = f"{target}.{name}"
            elif not name and alias.asname:
                aliases[alias.asname] = target
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            found.append((module, aliases[node.value.id], node.attr))
    return found


def is_module(name: str) -> bool:
    path = SRC / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


# ----------------------------------------------------------------- the package


def test_each_subpackage_imports_only_what_its_layer_may() -> None:
    found = [hit for module, tree in modules().items() for hit in layer_violations(module, tree)]
    assert not found, "imports across layers:\n" + "\n".join(found)


def test_no_cycle_between_subpackages() -> None:
    graph = unit_graph(modules())
    assert not find_cycle(graph), f"subpackages import each other: {' -> '.join(find_cycle(graph))}"
    assert not find_cycle(MAY_IMPORT), "the layer map itself has a cycle"


def test_every_unit_has_a_rule_and_the_top_holds_only_the_entry_points() -> None:
    entries = sorted(path.name for path in PACKAGE.iterdir() if path.name != "__pycache__")
    assert len(entries) <= MAX_TOP_ENTRIES, f"{len(entries)} entries in src/longtail: {entries}"
    top_files = {name for name in entries if name.endswith(".py")}
    assert top_files == {"__init__.py", "__main__.py", "cli.py", "errors.py"}, top_files
    folders = {name for name in entries if (PACKAGE / name).is_dir()}
    assert folders | {"cli", "errors", "__main__", "longtail"} == set(MAY_IMPORT)


@pytest.mark.parametrize("package", sorted(
    name for name in MAY_IMPORT if (PACKAGE / name / "__init__.py").exists()))
def test_each_subpackage_says_what_it_holds_and_may_import(package: str) -> None:
    tree = modules()[f"longtail.{package}"]
    assert len(ast.get_docstring(tree) or "") > 200, f"longtail.{package} has no docstring"
    assert docstring_imports(tree) == MAY_IMPORT[package], \
        f"longtail.{package}'s docstring and MAY_IMPORT disagree"
    # importing a subpackage loads nothing: a module is imported by name
    assert package == "data" or not [node for node in tree.body
                                     if isinstance(node, ast.Import | ast.ImportFrom)
                                     and node.module != "__future__"]


def test_no_function_level_imports_of_the_package() -> None:
    found = {(module, function) for module, tree in modules().items()
             for function, _ in lazy_imports(module, tree)}
    unexplained = [message for module, tree in modules().items()
                   for function, message in lazy_imports(module, tree)
                   if (module, function) not in LAZY_ALLOWED]
    assert not unexplained, "imports inside functions:\n" + "\n".join(unexplained)
    stale = sorted(set(LAZY_ALLOWED) - found)
    assert not stale, f"no longer import lazily, remove from LAZY_ALLOWED: {stale}"


@pytest.mark.parametrize("source", [
    "def build_parser():\n    from longtail.estimators.estimates import INFLUENCE_MODES",
    "def add_estimate(p):\n    import longtail.estimators.select",
    "def run_estimate(args):\n    def helper():\n        from longtail import store",
])
def test_the_cli_allowance_is_per_function(source: str) -> None:
    """Only the listed functions of longtail.cli may import lazily: the parser, an ``add_``
    function or a function nested in a listed one may not."""
    hits = lazy_imports("longtail.cli", ast.parse(source))
    assert hits and all(("longtail.cli", function) not in LAZY_ALLOWED
                        for function, _ in hits)


def test_no_private_names_across_modules() -> None:
    found = {hit for module, tree in modules().items() for hit in private_imports(module, tree)}
    unexplained = sorted(found - set(PRIVATE_ALLOWED))
    assert not unexplained, f"private names used across modules: {unexplained}"
    stale = sorted(set(PRIVATE_ALLOWED) - found)
    assert not stale, f"no longer used, remove from PRIVATE_ALLOWED: {stale}"


def test_reporting_is_a_package_of_its_own() -> None:
    names = modules()
    assert {f"{REPORTING}.{name}" for name in (
        "figures", "tables", "plots", "gallery", "provenance", "explain", "paper",
        "comparison", "lastlayer", "reliability")} <= set(names)
    # importing reporting.paper (what the rules may read) loads no drawing library
    assert not any(isinstance(node, ast.ImportFrom | ast.Import) and any(
        t.startswith(("matplotlib", f"{REPORTING}.plots")) for t, _ in imported(
            f"{REPORTING}.paper", node)) for node in ast.walk(names[f"{REPORTING}.paper"]))


def test_rules_and_reporting_load_no_torch() -> None:
    """The modules rules/common.smk imports at parse time, and the figures and tables, work
    without torch (training lives in the stages)."""
    code = ("import sys, longtail.workflow.checks, longtail.config.study, "
            "longtail.workflow.resources, longtail.workflow.wiring, longtail.reporting.figures, "
            "longtail.reporting.tables; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# ----------------------------------------------------------------- the checks can fail


BAD, GOOD = True, False
IMPORT_CASES = [  # (module, its source, check, whether the check finds it)
    ("longtail.estimators.agreement", "from longtail.reporting.tables import x",
     layer_violations, BAD),
    ("longtail.estimators.select", "import longtail.reporting.plots as p", layer_violations, BAD),
    ("longtail.store.correctness", "from longtail import reporting", layer_violations, BAD),
    ("longtail.store.h5", "from longtail.config.study import Study", layer_violations, BAD),
    ("longtail.data.study_data", "from ..reporting import paper", layer_violations, BAD),
    ("longtail.config.study", "def f():\n    from longtail.train import recipe",
     layer_violations, BAD),
    ("longtail.workflow.wiring", "from longtail.train.recipe import Recipe", layer_violations,
     BAD),
    ("longtail.reporting.tables", "from longtail.reporting import paper", layer_violations,
     GOOD),
    ("longtail.cli", "from longtail.reporting.explain import describe", layer_violations, GOOD),
    ("longtail.cli", "from longtail import __version__", layer_violations, GOOD),
    ("longtail.train.stages", "from longtail.estimators.select import x", layer_violations,
     GOOD),
    ("longtail.data.cache", "from ..store.h5 import create", layer_violations, GOOD),
    ("longtail.estimators.agreement", "def f():\n    from longtail.tables import x",
     lazy_imports, BAD),
    ("longtail.data.study_data", "def f():\n    from . import layout", lazy_imports, BAD),
    ("longtail.estimators.agreement", "def f():\n    import json", lazy_imports, GOOD),
    ("longtail.train.stages", "from longtail.train.training import _private", private_imports,
     BAD),
    ("longtail.train.stages", "from longtail.train import training\ntraining._private()",
     private_imports, BAD),
    ("longtail.cli", "from longtail import __version__", private_imports, GOOD),
    ("longtail.train.stages", "from longtail.train.training import Recipe", private_imports,
     GOOD),
]


@pytest.mark.parametrize(("module", "source", "check", "bad"), IMPORT_CASES)
def test_the_checks_tell_a_bad_import_from_a_good_one(module: str, source: str, check,
                                                      bad: bool) -> None:
    assert bool(check(module, ast.parse(source))) == bad


def test_the_cycle_check_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert not find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()})
