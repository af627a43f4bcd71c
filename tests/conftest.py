"""Shared fixtures: small synthetic image datasets with known structure."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from longtail.train.recipe import TrainingData

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "config" / "tiny.yaml"


def blobs(n: int, n_test: int, classes: int = 4, side: int = 6, channels: int = 1,
          seed: int = 0) -> TrainingData:
    """Class-dependent uint8 images plus noise: learnable, but not perfectly."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(40, 215, size=(classes, side, side, channels))

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, classes, size=count)
        x = prototypes[y] + rng.normal(0, 60, size=(count, side, side, channels))
        return np.clip(x, 0, 255).astype(np.uint8), y

    x_train, y_train = draw(n)
    x_test, y_test = draw(n_test)
    return TrainingData.from_arrays(x_train, y_train, x_test, y_test, classes)


@pytest.fixture
def tiny_blobs() -> TrainingData:
    return blobs(120, 60)


# ----------------------------------------------------------------- the workflow, end to end

def snakemake(workdir: Path, config: Path, *args: str, check: bool = True
              ) -> subprocess.CompletedProcess:
    """Run the real workflow in ``workdir`` with ``config`` (all targets unless given)."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
         str(workdir), "--configfile", str(config), "--cores", "2", *args],
        capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts per rule from a dry run's 'Job stats' table ({} when nothing to do)."""
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


def changed_config(tmp: Path, name: str, edit: Callable[[dict], None]) -> Path:
    """A copy of the tiny config with ``edit`` applied, written to ``tmp/name``."""
    config = yaml.safe_load(TINY.read_text())
    edit(config)
    path = tmp / name
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> Path:
    """A work directory in which the whole workflow ran once on the tiny study."""
    workdir = tmp_path_factory.mktemp("study")
    snakemake(workdir, TINY)
    return workdir
