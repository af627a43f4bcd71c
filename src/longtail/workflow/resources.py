"""What each cluster job asks for, derived from its study (n, n_test, t, image size, arch,
device): ``mem_mb`` (host memory), ``runtime`` (minutes) and ``gpu``, the names the SLURM
executor plugin maps to --mem, --time and --gpus; a job's CPUs are its rule's ``threads``.
Retries (``attempt`` 2, 3) ask for more. Rough on purpose: a site overrides any of them in its
own profile (``set-resources``, docs/slurm.md). Light rules are ``localrules`` and ask nothing.

The model takes a :class:`~longtail.config.study.Study`; :class:`JobResources` hands it to the rules
(``rules/common.smk``: ``mem_mb=RESOURCES.training_mem_mb``), which Snakemake calls with a
job's wildcards and attempt. Torch-free: the rules import it when the workflow is parsed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from longtail.config.study import Study, subset_size
from longtail.data.datasets import REGISTRY

MB = 1e6
# An own dataset whose sizes the config does not give counts as 60,000 + 10,000 images of
# CIFAR's shape.
OWN_SIZES = (60000, 10000)
OWN_SHAPE = (32, 32, 3)
# GPU-seconds to train one model on one million examples for one epoch at 32 x 32 pixels, on an
# A100-class GPU (batched MLPs: per model); `train.device: cpu` multiplies it by CPU_SLOWDOWN.
ARCH_SECONDS = {"mlp": 0.5, "cnn": 2.0, "resnet9": 8.0, "inception": 40.0, "resnet18": 60.0}
RESNET50_SECONDS = 200.0
CPU_SLOWDOWN = 50
REFERENCE_IMAGE_BYTES = 32 * 32 * 3  # the image size ARCH_SECONDS are measured at
CACHE_MINUTES = {"imagenet": 600}  # decoding 1.3 million JPEGs; an hour for the others


def minutes(seconds: float, attempt: int, floor: int = 10) -> int:
    """A job's time limit: 1.5 x the estimate plus a start-up allowance, per attempt."""
    return attempt * (floor + math.ceil(1.5 * seconds / 60))


def megabytes(mb: float, attempt: int, base: int = 2000) -> int:
    """A job's memory: a base for Python, torch and HDF5 plus mb, per attempt, in whole GB."""
    return attempt * 1000 * math.ceil((base + mb) / 1000)


def whole_dataset(dataset: str) -> Study:
    """A study of all of a dataset's examples (what its cache holds)."""
    return Study("", {"dataset": dataset, "n_train": None, "n_test": None})


def study_sizes(study: Study) -> tuple[int, int]:
    """(n, n_test) of a study: its subsample, or the whole splits (:data:`OWN_SIZES` for an
    own dataset whose sizes the config does not give)."""
    dataset = REGISTRY.get(study.dataset)
    n_split, n_test_split = (dataset.n_train, dataset.n_test) if dataset else OWN_SIZES
    return study.config.get("n_train") or n_split, study.config.get("n_test") or n_test_split


def image_bytes(study: Study, image_size: int) -> int:
    """Bytes of one of the study's images (uint8); ``image_size`` is ``data.image_size``."""
    dataset = REGISTRY.get(study.dataset)
    return math.prod(dataset.image_shape(image_size) if dataset else OWN_SHAPE)


def data_mb(study: Study, image_size: int) -> float:
    """The study's images (train and test, uint8) in MB."""
    n, n_test = study_sizes(study)
    return (n + n_test) * image_bytes(study, image_size) / MB


def store_mb(study: Study) -> float:
    """The study's (t, n) and (t, n_test) arrays: mask, correctness, predictions (int16)."""
    n, n_test = study_sizes(study)
    return study.trials * (4 * n + n_test) / MB


def model_seconds(study: Study, n_examples: int, image_size: int) -> float:
    """Seconds to train one model of the study's recipe on n_examples examples."""
    family = "mlp" if study.arch.startswith("mlp") else study.arch
    seconds = ARCH_SECONDS.get(family, RESNET50_SECONDS)
    scale = max(image_bytes(study, image_size) / REFERENCE_IMAGE_BYTES, 1)
    seconds *= n_examples * study.train["epochs"] / MB * scale
    return seconds * (CPU_SLOWDOWN if study.train["device"] == "cpu" else 1)


@dataclass(frozen=True)
class JobResources:
    """The rules' resource functions: each finds its job's study (``wildcards.study``, a
    dataset for a cache, a group of studies) and asks the model above."""

    studies: Mapping[str, Study]
    image_size: int  # data.image_size
    influence: str  # same-class or full
    groups: Mapping[str, Sequence[str]]  # compare.groups

    @classmethod
    def from_config(cls, studies: Mapping[str, Study], config: Mapping[str, Any]
                    ) -> JobResources:
        """From the workflow's studies and its validated config (defaults filled in)."""
        return cls(studies, config["data"]["image_size"], config["influence"],
                   config["compare"]["groups"])

    def study(self, wildcards: Any) -> Study:
        return self.studies[wildcards.study]

    # ---- training
    def training_gpus(self, wildcards: Any) -> int:
        """One GPU per training job unless the study trains on the CPU (`train.device: cpu`)."""
        return 0 if self.study(wildcards).train["device"] == "cpu" else 1

    def training_mem_mb(self, wildcards: Any, attempt: int) -> int:
        """The study's images twice (read, then as tensors), as float32 too when on the CPU."""
        study = self.study(wildcards)
        factor = 6 if study.train["device"] == "cpu" else 2
        return megabytes(factor * data_mb(study, self.image_size), attempt, base=4000)

    def trial_runtime(self, wildcards: Any, attempt: int) -> int:
        """trials_per_job models on m = subset_ratio * n examples (the same for every shard of
        a study, so that the shards can be one SLURM array)."""
        study = self.study(wildcards)
        n, _ = study_sizes(study)
        m = subset_size(n, study.config["subset_ratio"])
        seconds = study.config["trials_per_job"] * model_seconds(study, m, self.image_size)
        return minutes(seconds, attempt, floor=15)

    def removal_runtime(self, wildcards: Any, attempt: int) -> int:
        """The repeats of the shard times the kinds of the part (two but for `full` and
        `random-*`), on at most n examples each."""
        study = self.study(wildcards)
        n, _ = study_sizes(study)
        kinds = 1 if wildcards.part == "full" or wildcards.part.startswith("random-") else 2
        models = (int(wildcards.stop) - int(wildcards.start)) * kinds
        return minutes(models * model_seconds(study, n, self.image_size), attempt, floor=15)

    def full_model_runtime(self, wildcards: Any, attempt: int) -> int:
        """One model on all n examples (rules/lastlayer.smk)."""
        study = self.study(wildcards)
        n, _ = study_sizes(study)
        return minutes(model_seconds(study, n, self.image_size), attempt, floor=15)

    # ---- data
    def cache_mem_mb(self, wildcards: Any, attempt: int) -> int:
        """A dataset cache is built in memory: its images about three times over."""
        return megabytes(3 * data_mb(whole_dataset(wildcards.dataset), self.image_size),
                         attempt)

    def cache_runtime(self, wildcards: Any, attempt: int) -> int:
        """Hours for ImageNet (decoding 1.3 million JPEGs), an hour for the others."""
        return attempt * CACHE_MINUTES.get(wildcards.dataset, 60)

    def study_data_mem_mb(self, wildcards: Any, attempt: int) -> int:
        """The whole cache and the study's subsample of it."""
        dataset = whole_dataset(self.study(wildcards).dataset)
        return megabytes(3 * data_mb(dataset, self.image_size), attempt)

    def short_runtime(self, wildcards: Any, attempt: int) -> int:
        """Half an hour, for one pass over a study's data or a released file."""
        return 30 * attempt

    # ---- the store and the estimates
    def store_mem_mb(self, wildcards: Any, attempt: int) -> int:
        """The study's (t, n) arrays, twice (shards and the concatenation)."""
        return megabytes(2 * store_mb(self.study(wildcards)), attempt)

    def store_runtime(self, wildcards: Any, attempt: int) -> int:
        """Reading and counting the store: about a minute per GB, at least half an hour."""
        return attempt * (30 + math.ceil(store_mb(self.study(wildcards)) / 1000))

    def estimate_mem_mb(self, wildcards: Any, attempt: int) -> int:
        """Blocks of the store and (t, n) counts; the full n x n_test influence in blocks."""
        study = self.study(wildcards)
        _, n_test = study_sizes(study)
        full = 8 * 2048 * n_test / MB if self.influence == "full" else 0
        return megabytes(store_mb(study) / 2 + full, attempt)

    def released_mem_mb(self, wildcards: Any, attempt: int) -> int:
        """The released file's n x n_test float32 influence, three times over."""
        n, n_test = study_sizes(self.study(wildcards))
        return megabytes(3 * 4 * n * n_test / MB, attempt)

    # ---- the last layer and the comparison of architectures
    def lastlayer_mem_mb(self, wildcards: Any, attempt: int) -> int:
        """Representations (up to 2,048 float32 features per example) and the linear store."""
        study = self.study(wildcards)
        n, n_test = study_sizes(study)
        return megabytes(4 * 2048 * (n + n_test) / MB + 2 * store_mb(study), attempt)

    def lastlayer_runtime(self, wildcards: Any, attempt: int) -> int:
        """t linear models on the CPU, a second per thousand examples each (rough)."""
        study = self.study(wildcards)
        n, _ = study_sizes(study)
        return minutes(study.trials * n / 1000, attempt, floor=30)

    def group_mem_mb(self, wildcards: Any, attempt: int) -> int:
        """The stores of the group's studies, side by side."""
        stores = [store_mb(self.studies[name]) for name in self.groups[wildcards.group]]
        return megabytes(sum(2 * mb for mb in stores), attempt)

    def group_runtime(self, wildcards: Any, attempt: int) -> int:
        """Reading the group's stores and estimating twice per pair of studies."""
        stores = [store_mb(self.studies[name]) for name in self.groups[wildcards.group]]
        return attempt * (30 + math.ceil(sum(stores) / 500))
