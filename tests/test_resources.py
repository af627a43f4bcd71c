"""longtail.workflow.resources: what each cluster job asks for, pinned to the values the workflow
asked for when the model lived in rules/common.smk (so moving it changed no job's request)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from longtail.config.study import Study, with_defaults
from longtail.workflow.resources import JobResources, model_seconds

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "tests" / "config" / "tiny.yaml").read_text())["studies"]["tiny"]
OWN = "folder-own-12345678"  # an own dataset's cache name; its sizes from the config
STUDIES = {
    "tiny": TINY,
    "cifar100": {"dataset": "cifar100", "arch": "resnet50", "trials": 4000, "trials_per_job": 64},
    "imagenet": {"dataset": "imagenet", "arch": "resnet50", "trials": 2000, "trials_per_job": 32},
    "mnist-cpu": {"dataset": "mnist", "arch": "mlp-256", "trials": 512, "n_train": 20000,
                  "train": {"device": "cpu", "epochs": 4}},
    "own": {"dataset": {"kind": "folder", "root": "x"}, "arch": "cnn", "trials": 64,
            "n_train": 3000},
}
METHODS = ("training_gpus", "training_mem_mb", "trial_runtime", "removal_runtime",
           "removal_runtime", "full_model_runtime", "cache_mem_mb", "cache_runtime",
           "study_data_mem_mb", "store_mem_mb", "estimate_mem_mb", "short_runtime",
           "store_runtime", "released_mem_mb", "lastlayer_mem_mb", "lastlayer_runtime",
           "group_mem_mb", "group_runtime")
# Attempt 1, in the order of METHODS (removal_runtime: part mem-0.25, then full; repeats 0-32).
PINNED = {
    "tiny": [1, 5000, 16, 16, 16, 16, 3000, 60, 3000, 3000, 3000, 30, 31, 3000, 3000, 31,
             3000, 31],
    "cifar100": [1, 5000, 105, 143, 79, 17, 3000, 60, 3000, 4000, 3000, 30, 31, 8000, 5000,
                 5030, 6000, 34],
    "imagenet": [1, 37000, 4607, 13135, 6575, 220, 52000, 600, 52000, 23000, 8000, 30, 41,
                 771000, 34000, 64089, 44000, 72],
    "mnist-cpu": [0, 5000, 18, 19, 17, 16, 3000, 60, 3000, 3000, 3000, 30, 31, 5000, 3000,
                  286, 3000, 31],
    "own": [1, 5000, 16, 16, 16, 16, 3000, 60, 3000, 3000, 3000, 30, 31, 3000, 3000, 35, 3000,
            31],
}


def study(name: str, **changes) -> Study:
    config = with_defaults({**STUDIES[name], **changes})
    if name == "own":
        config["dataset"] = OWN
    return Study.from_config(name, config)


def resources(name: str, influence: str = "same-class", **changes) -> JobResources:
    studies = {name: study(name, **changes), "other": study(name, **changes)}
    config = {"data": {"image_size": 64}, "influence": influence,
              "compare": {"groups": {"g": [name, "other"]}}}
    return JobResources.from_config(studies, config)


def asked(name: str, attempt: int) -> list[int]:
    model = resources(name)
    dataset = model.studies[name].dataset
    jobs = [SimpleNamespace(study=name, dataset=dataset, part=part, start="0", stop="32",
                            group="g") for part in ("mem-0.25", "full")]
    values = []
    for index, method in enumerate(METHODS):
        job = jobs[1] if index == 4 else jobs[0]
        function = getattr(model, method)
        values.append(function(job) if method == "training_gpus" else function(job, attempt))
    return values


@pytest.mark.parametrize("name", PINNED)
def test_requests_are_unchanged(name):
    assert asked(name, 1) == PINNED[name]


@pytest.mark.parametrize("name", ["tiny", "imagenet"])
def test_a_retry_asks_for_twice_as_much(name):
    first, second = asked(name, 1), asked(name, 2)
    assert second[0] == first[0]  # GPUs
    assert second[1:] == [2 * value for value in first[1:]]


def test_trial_runtime_by_hand():
    """CIFAR-100, ResNet50 (200 GPU-s per million example-epochs), 8 epochs on m = 35,000:
    56 s a model, 64 a job: 1.5 x 3,584 s = 90 min, plus 15 min to start."""
    cifar = study("cifar100")
    assert model_seconds(cifar, 35000, 64) == pytest.approx(56.0)
    job = SimpleNamespace(study="cifar100")
    assert resources("cifar100").trial_runtime(job, 1) == 90 + 15


def test_full_influence_needs_its_blocks():
    """ImageNet, t = 1,000: the store's half (2,587 MB) plus the base fits in 5 GB; the full
    influence's 8 x 2,048 x 50,000 bytes (819 MB) of blocks make it 6 GB."""
    job = SimpleNamespace(study="imagenet")
    assert resources("imagenet", trials=1000).estimate_mem_mb(job, 1) == 5000
    assert resources("imagenet", "full", trials=1000).estimate_mem_mb(job, 1) == 6000
