"""The paper's released estimates in the workflow (issue 14, item 4): the preset's dry run
imports instead of training, the config refuses what needs trained models, and the import
checks the file against the study data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_config import checked

from longtail.config.errors import ConfigError
from longtail.data.study_data import StudyData
from longtail.estimators.estimates import EstimatesError, read_estimates
from longtail.estimators.released import import_released
from longtail.reporting.provenance import released_about

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "studies" / "cifar100-released.yaml"


def fabricated(path: Path, n_per_class: int = 4, tests_per_class: int = 2,
               classes: int = 3) -> Path:
    """A small file in the released layout (labels in class order, random influence)."""
    rng = np.random.default_rng(0)
    tr_labels = np.repeat(np.arange(classes), n_per_class)
    tt_labels = np.repeat(np.arange(classes), tests_per_class)
    arrays = {"tr_mem": rng.random(len(tr_labels)), "tr_labels": tr_labels,
              "tt_labels": tt_labels}
    for c in range(classes):
        tr, tt = np.flatnonzero(tr_labels == c), np.flatnonzero(tt_labels == c)
        arrays[f"infl_matrix_class{c}"] = rng.random((len(tr), len(tt))).astype(np.float32)
        arrays[f"tr_classidx_{c}"], arrays[f"tt_classidx_{c}"] = tr, tt
    np.savez(path, **arrays)
    return path


def test_preset_dry_run_imports_instead_of_training(tmp_path: Path) -> None:
    fabricated(tmp_path / "cifar100_infl_matrix.npz")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(PRESET), "-n", "--cores", "1"],
        capture_output=True, text=True, timeout=600, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "import_released_estimates" in text and "describe_released_study" in text
    for rule in ("train_trial_shard", "aggregate_correctness", "estimate_memorization",
                 "measure_selection_consistency"):
        assert rule not in text, rule


def test_preset_needs_the_file(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(PRESET), "-n", "--cores", "1"],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode != 0
    assert "studies.cifar100-released.released = 'cifar100_infl_matrix.npz' is not a file" in \
        proc.stdout + proc.stderr


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["figures"].update(fig2=["cifar100-released"]), r"figures\.fig2 names study"),
    (lambda c: c["studies"]["cifar100-released"].update(n_train=100),
     r"n_train = 100: a released estimate file covers the whole split"),
    (lambda c: c["studies"]["cifar100-released"].update(label_noise=0.1),
     r"label_noise = 0.1: released estimates"),
])
def test_config_refuses_what_needs_trained_models(edit, message) -> None:
    config = yaml.safe_load(PRESET.read_text())
    checked(config)
    edit(config)
    with pytest.raises(ConfigError, match=message):
        checked(config)


def _data(labels: np.ndarray, test_labels: np.ndarray) -> StudyData:
    n, n_test = len(labels), len(test_labels)
    return StudyData(np.zeros((n, 2, 2, 1), np.uint8), labels, labels, np.arange(n) + 10,
                     np.zeros(n, bool), np.zeros((n_test, 2, 2, 1), np.uint8), test_labels,
                     np.arange(n_test) + 20, ["a", "b", "c"], "cifar100", "h")


def test_import_checks_labels_against_the_study_data(tmp_path: Path) -> None:
    path = fabricated(tmp_path / "r.npz")
    with np.load(path) as npz:
        tr, tt = npz["tr_labels"], npz["tt_labels"]
    out = tmp_path / "e.h5"
    import_released(path, out, {"dataset": "cifar100"}, data=_data(tr, tt))
    est = read_estimates(out)
    np.testing.assert_array_equal(est.train_source_index, np.arange(len(tr)) + 10)
    about = released_about(est, path, "s", {"dataset": "cifar100", "arch": "resnet50",
                                            "trials": 4000, "subset_ratio": 0.7,
                                            "label_noise": 0.0, "seed": 0})
    assert about["m"] == round(0.7 * len(tr)) and np.isnan(about["test_accuracy_mean"])
    wrong = tr.copy()
    wrong[0] = 2
    with pytest.raises(EstimatesError, match="tr_labels .* does not match the study data"):
        import_released(path, out, data=_data(wrong, tt))
