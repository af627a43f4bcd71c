"""End to end (issue 14, items 1 and 5): the real workflow on a fabricated folder of PNG files
and on an .npz of arrays, through estimates, pairs, Fig. 1, the galleries and the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import snakemake
from PIL import Image
from test_data_custom import image_folder

from longtail.cli import main
from longtail.data import load_study_data
from longtail.store.correctness import read_store

pytestmark = pytest.mark.e2e

STUDY = {"arch": "cnn", "trials": 16, "subset_ratio": 0.5, "trials_per_job": 16, "seed": 0,
         "min_out_trials": 4,
         "train": {"epochs": 3, "batch_size": 16, "lr": 0.05, "weight_decay": 0.0,
                   "ensemble_size": 16, "threads": 1}}


def test_own_folder_and_arrays_through_the_workflow(tmp_path: Path) -> None:
    image_folder(tmp_path / "pets", per_class=12, tests=4, size=12)
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "mine.npz", x_train=rng.integers(0, 255, (30, 9, 9, 3), dtype=np.uint8),
             y_train=np.arange(30) % 3, x_test=rng.integers(0, 255, (9, 9, 9, 3),
                                                             dtype=np.uint8),
             y_test=np.arange(9) % 3)
    config = {
        "studies": {"pets": {**STUDY, "dataset": {"kind": "folder", "root": "pets"}},
                    "mine": {**STUDY, "arch": "mlp", "dataset": {"kind": "arrays",
                                                                 "path": "mine.npz"}}},
        "figures": {"fig1": ["pets"]},
        "galleries": {"studies": ["pets"], "examples": 4, "pairs": 4},
        "thresholds": {"mem": 0.1, "infl": 0.1}}
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake(tmp_path, path)
    data = load_study_data(tmp_path / "results" / "pets" / "data.h5")
    assert data.classes == ["cat", "dog", "owl"] and data.x_train.shape == (36, 12, 12, 3)
    store = read_store(tmp_path / "results" / "pets" / "correctness.h5")
    assert store.attrs["dataset"].startswith("folder-pets-") and store.mask.shape == (16, 36)
    assert store.trials.test_accuracy.mean() > 0.5  # the colours are learnable
    assert read_store(tmp_path / "results" / "mine" / "correctness.h5").mask.shape == (16, 30)
    gallery = tmp_path / "results" / "pets" / "gallery"
    assert sorted(p.name for p in (gallery / "classes").glob("*.png")) == [
        "class_0000.png", "class_0001.png", "class_0002.png"]
    assert (tmp_path / "figures" / "fig1.png").exists() and (gallery / "pairs.png").exists()
    snakemake(tmp_path, path, "--report", "report.html")
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert "Galleries" in html and "class_0001.png" in html
    snakemake(tmp_path, path, "explorer")  # colour thumbnails of both own datasets
    for study, side in (("pets", 12), ("mine", 9)):  # 32 thumbnails per row of a sheet
        sprites = tmp_path / "results" / study / "explorer" / "sprites"
        with Image.open(sprites / "train-000.png") as sheet:
            assert sheet.mode == "RGB" and sheet.size[0] == 32 * side
    estimates = tmp_path / "results" / "pets" / "estimates.h5"
    assert main(["explain", str(estimates), "--test", "0", "-k", "3", "--png",
                 str(tmp_path / "explain.png"), "--data",
                 str(tmp_path / "results" / "pets" / "data.h5")]) == 0
    # the refusals happen before any training: a damaged image stops the cache rule
    (tmp_path / "pets" / "train" / "cat" / "003.png").write_bytes(b"broken")
    for cache in (tmp_path / "resources").glob("folder-pets-*.h5"):
        cache.unlink()
    proc = snakemake(tmp_path, path, "--forceall", "results/pets/correctness.h5", check=False)
    assert proc.returncode != 0
    assert "003.png: not a readable image" in proc.stdout + proc.stderr + "".join(
        p.read_text() for p in (tmp_path / "logs" / "data").glob("folder-pets-*.log"))
