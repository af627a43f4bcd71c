"""What rules/detectors.smk asks of config `detectors`: which studies, which K-fold splits,
the inputs of each rule and a K-fold job's runtime (kept out of the Snakefile as code)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from longtail.config.schema import schema_default
from longtail.data.noise_models import noise_rate
from longtail.labels.detectors import cleanlab_available


@dataclass(frozen=True)
class DetectorWiring:
    studies: list[str]
    folds: list[int]
    main_folds: int
    repeats: int
    trials: list[int]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], trained: Sequence[str]) -> DetectorWiring:
        """`detectors.studies` as listed; unset: every trained study with label noise when
        cleanlab is installed, none otherwise."""
        settings = config.get("detectors") or {}
        studies = settings.get("studies")
        if studies is None:
            studies = [s for s in trained
                       if noise_rate(config["studies"][s]["label_noise"]) > 0
                       ] if cleanlab_available() else []
        def setting(key: str) -> Any:
            return settings[key] if key in settings else schema_default("detectors", key)
        return cls(list(studies), list(setting("folds")), int(setting("main_folds")),
                   int(setting("repeats")), list(setting("trials")))

    def splits(self) -> list[tuple[int, int]]:
        """(K, repeat): one split per K of `folds`, and `repeats` splits of `main_folds`."""
        out = [(k, 0) for k in self.folds]
        return out + [(self.main_folds, r) for r in range(self.repeats)
                      if (self.main_folds, r) not in out]

    def kfold_files(self, study: str) -> list[str]:
        return [f"results/{study}/kfold/{k}-{r}.h5" for k, r in self.splits()]

    def main_kfold(self, wildcards: Any) -> str:
        return f"results/{wildcards.study}/kfold/{self.main_folds}-0.h5"

    def all_kfold_files(self, wildcards: Any) -> list[str]:
        return [path for study in self.studies for path in self.kfold_files(study)]

    def kfold_groups(self, wildcards: Any) -> list[list[str]]:
        return [self.kfold_files(study) for study in self.studies]

    def stores(self) -> list[str]:
        return [f"results/{study}/correctness.h5" for study in self.studies]

    def outputs(self) -> list[str]:
        """Each study's table and figure, and the cost table (when any study)."""
        if not self.studies:
            return []
        return ([f"tables/detectors_{s}.{ext}" for s in self.studies for ext in ("csv", "md")]
                + [f"figures/detectors_{s}.png" for s in self.studies]
                + ["tables/detector_cost.md"])


def kfold_runtime(resources: Any) -> Any:
    """A K-fold job's runtime: K models, each on n (K - 1) / K <= n examples."""
    def runtime(wildcards: Any, attempt: int) -> int:
        return int(wildcards.folds) * resources.full_model_runtime(wildcards, attempt)
    return runtime
