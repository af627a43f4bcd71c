"""The package's layers, read from its source: the experiment layer (data, models, training,
trials, store, estimators, selection, removal, last layer, comparison) never imports the
reporting layer (``longtail.reporting``); no module imports ``longtail`` inside a function to
dodge a cycle; no module imports another's private names. Exceptions are listed with their
reason, per function, and an exception that is no longer needed fails too, so the lists only
shrink."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "longtail"
REPORTING = "longtail.reporting"
# On top of both layers: they may import reporting.
TOP = {"longtail", "longtail.cli", "longtail.api"}

# Each subcommand of the command line imports what it runs when it runs, so that `longtail
# --help`/`--version` load no numpy and `longtail estimate` no pandas, matplotlib or scipy
# (tests/test_cli.py checks sys.modules); the parser itself reads only longtail.defaults.
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


def reporting_imports(module: str, tree: ast.AST) -> list[str]:
    """What ``module`` imports from the reporting layer, if it is an experiment module."""
    if module in TOP or module == REPORTING or module.startswith(REPORTING + "."):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target, name in imported(module, node):
                full = f"{target}.{name}" if name else target
                if any(t == REPORTING or t.startswith(REPORTING + ".") for t in (target, full)):
                    found.append(f"{module}:{node.lineno} imports {full}")
    return found


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


def test_experiment_layer_never_imports_reporting() -> None:
    found = [hit for module, tree in modules().items() for hit in reporting_imports(module, tree)]
    assert not found, "the experiment layer imports reporting:\n" + "\n".join(found)


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
    "def build_parser():\n    from longtail.estimates import INFLUENCE_MODES",
    "def add_estimate(p):\n    import longtail.select",
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
    code = ("import sys, longtail.config, longtail.study, longtail.resources, longtail.wiring, "
            "longtail.reporting.figures, "
            "longtail.reporting.tables; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# ----------------------------------------------------------------- the checks can fail


@pytest.mark.parametrize(("module", "source", "check"), [
    ("longtail.compare", "from longtail.reporting.tables import to_markdown", reporting_imports),
    ("longtail.select", "import longtail.reporting.plots as p", reporting_imports),
    ("longtail.store", "from longtail import reporting", reporting_imports),
    ("longtail.data.study_data", "from ..reporting import paper", reporting_imports),
    ("longtail.compare", "def f():\n    from longtail.tables import x", lazy_imports),
    ("longtail.data.study_data", "def f():\n    from . import layout", lazy_imports),
    ("longtail.stages", "from longtail.training import _private", private_imports),
    ("longtail.stages", "from longtail import training\ntraining._private()", private_imports),
])
def test_checks_find_a_bad_import(module: str, source: str, check) -> None:
    assert check(module, ast.parse(source))


@pytest.mark.parametrize(("module", "source", "check"), [
    ("longtail.reporting.tables", "from longtail.reporting import paper", reporting_imports),
    ("longtail.cli", "from longtail.reporting.explain import describe", reporting_imports),
    ("longtail.compare", "def f():\n    import json", lazy_imports),
    ("longtail.cli", "from longtail import __version__", private_imports),
    ("longtail.stages", "from longtail.training import Recipe", private_imports),
])
def test_checks_pass_a_good_import(module: str, source: str, check) -> None:
    assert not check(module, ast.parse(source))
