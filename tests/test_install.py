"""The package as a user installs it: built (not editable) into a fresh virtual environment
with only its declared dependencies (no torch), it has its config schema and defaults and the
explorer's page, and estimates memorization and influence from a correctness store, run from
another directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_estimates import make_store, write

ROOT = Path(__file__).resolve().parents[1]
# What building the package reads (pyproject.toml names the readme and the license).
BUILD_FILES = ("pyproject.toml", "README.md", "LICENSE")

pytestmark = pytest.mark.install
# What the installed package runs with: no PYTHONPATH, which would put a source tree first.
USER_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

CHECK = """
import importlib.util, json, sys
from pathlib import Path
import longtail
from longtail.estimators.estimates import read_estimates
from longtail.config.schema import SCHEMA_PATH, schema_default
from longtail.config.study import with_defaults
assert Path(longtail.__file__).is_relative_to(Path(sys.prefix)), longtail.__file__
assert SCHEMA_PATH.is_file() and SCHEMA_PATH.is_relative_to(Path(sys.prefix)), SCHEMA_PATH
site = Path(longtail.__file__).parent / "reporting" / "site"  # the explorer's static page
assert all((site / name).is_file() for name in ("index.html", "explorer.js", "explorer.css"))
assert importlib.util.find_spec("torch") is None, "torch was installed"
study = with_defaults({"dataset": "mnist", "arch": "mlp"})
print(json.dumps({"mem": schema_default("thresholds", "mem"), "trials": study["trials"],
                  "epochs": study["train"]["epochs"], "attrs": {
                      k: str(v) for k, v in read_estimates(sys.argv[1]).attrs.items()}}))
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the package built from a copy of the sources (so that the build
    leaves nothing in the work tree) and its dependencies, without compiling bytecode."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in BUILD_FILES:
        shutil.copy(ROOT / name, source / name)
    env = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
         "--quiet", "--no-compile", "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, timeout=600)
    if proc.returncode:
        pytest.fail(f"pip install failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return env


def test_installed_package_estimates_without_torch(venv: Path, tmp_path: Path) -> None:
    store = write(tmp_path, make_store(seed=3, t=60, n=30, n_test=12))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = elsewhere / "estimates.h5"
    proc = subprocess.run([str(venv / "bin" / "longtail"), "estimate", str(store), out.name],
                          cwd=elsewhere, env=USER_ENV, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", CHECK, str(out)], cwd=elsewhere,
                          env=USER_ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["mem"] == 0.25 and got["trials"] == 256 and got["epochs"] == 8
    assert got["attrs"]["influence"] == "same-class"


def test_installed_package_serves_the_workflow(venv: Path, tmp_path: Path) -> None:
    """The workflow's tiny study plans its jobs from another directory with the installed
    (non-editable) package alone: its schema, defaults and wiring come from the wheel."""
    snakemake = next(line.strip() for line in (ROOT / "requirements.txt").read_text().split("\n")
                     if line.startswith("snakemake=="))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", "--no-compile", "--disable-pip-version-check", snakemake],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run(
        [str(venv / "bin" / "snakemake"), "figures/fig2.pdf", "--dry-run", "--cores", "1",
         "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--configfile",
         str(ROOT / "tests" / "config" / "tiny.yaml")],
        cwd=tmp_path, env=USER_ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = proc.stdout + proc.stderr
    assert "train_trial_shard" in plan and "plot_fig2" in plan, plan[-3000:]
