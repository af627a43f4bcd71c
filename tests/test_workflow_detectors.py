"""End to end: the tiny study with 10% of its labels flipped to the most confusable class,
its K-fold splits trained as jobs, the detectors table and figure and the cost table."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pandas as pd
import pytest
from conftest import changed_config, snakemake

from longtail.labels.kfold import read_kfold

pytestmark = pytest.mark.e2e
pytest.importorskip("cleanlab")

TARGETS = ("tables/detectors_tiny.md", "figures/detectors_tiny.png", "tables/detector_cost.md")


def noisy(config: dict) -> None:
    config["studies"]["tiny"]["label_noise"] = {"kind": "confusable", "rate": 0.1}
    config["detectors"] = {"folds": [2, 3], "main_folds": 3, "repeats": 2,
                           "trials": [8, 16, 32]}


def test_detectors_of_a_confusable_tiny_study(tmp_path: Path) -> None:
    config = changed_config(tmp_path, "noisy.yaml", noisy)
    workdir = tmp_path / "run"
    workdir.mkdir()
    snakemake(workdir, config, *TARGETS)
    results = workdir / "results" / "tiny"
    with h5py.File(results / "data.h5") as h5:
        record = json.loads(h5.attrs["label_noise_model"])
        assert record["kind"] == "confusable" and h5["train_label_flipped"][:].sum() == 30
    assert sorted(p.name for p in (results / "kfold").iterdir()) == ["2-0.h5", "3-0.h5",
                                                                      "3-1.h5"]
    split = read_kfold(results / "kfold" / "3-0.h5")
    assert split.pred_probs.shape == (300, 10) and split.models == 3
    assert (workdir / "logs" / "tiny" / "kfold" / "3-0.log").exists()
    table = pd.read_csv(workdir / "tables" / "detectors_tiny.csv")
    assert list(table["detector"]) == ["mem~", "1 - p_out", "cleanlab", "cleanlab"]
    assert list(table["models"]) == [32, 32, 32, 3] and (table["k"] == 30).all()
    assert table["auroc"].between(0, 1).all()
    assert (workdir / "figures" / "detectors_tiny.pdf").read_bytes().startswith(b"%PDF")
    cost = pd.read_csv(workdir / "tables" / "detector_cost.csv")
    assert sorted(set(cost["models"])) == [2, 3, 6, 8, 16, 32]
    assert "models to AUROC 0.95" in (workdir / "tables" / "detector_cost.md").read_text()
