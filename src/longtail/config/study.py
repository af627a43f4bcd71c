"""One description of a study: what determines its data, its trials and its removal runs.

A :class:`Study` is built once per study from the schema-validated config (bases merged in by
:mod:`longtail.config.bases`, defaults filled in):
by ``rules/common.smk`` when the workflow is parsed, and by the stages from the params their
rule passes them. It owns the params the rules pass (so Snakemake reruns a job exactly when
what it computes changes), the fingerprints the result files carry, the names of the trial
shards and of the removal parts and shards, and the seeds. Torch-free: the rules import it.

The keys that determine a study's results are listed once, here:

* :data:`DATA_KEYS`: its data (the subsample of the dataset and its label noise);
* :data:`SUBSET_KEYS`: its subsets I_k (studies that agree on them share trial k's subset);
* :data:`TRIAL_KEYS`: every trial (data, subsets, architecture and recipe). ``trials`` and
  ``trials_per_job`` are not among them: adding trials or re-sharding retrains nothing old;
  nor is ``removal``: Fig. 2's thresholds and repeats re-estimate nothing.

A key that determines trials is added to the schema (``longtail/config/config.schema.yaml``, with
its default) and to :data:`TRIAL_KEYS`; every param, fingerprint and check follows.

Seeds: every seed and random generator of a study derives from (study seed, stream...) through
one function, :func:`derive_seed` (and :func:`derive_rng` for a generator), by
:class:`numpy.random.SeedSequence`: trial k from (seed, k), removal runs from (seed,
REMOVAL_STREAM, ...), the last layer's full model from (seed, *FULL_MODEL_STREAM).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import numpy as np

from longtail.config.schema import load_schema, schema_default
from longtail.config.until import Until, until_of

# What determines the study's data: the subsample of the dataset and its label noise.
DATA_KEYS = ("dataset", "n_train", "n_test", "label_noise", "seed")
# What determines its subsets I_k (trial k's subset depends on these and k alone).
SUBSET_KEYS = (*DATA_KEYS, "subset_ratio")
# What determines every trial: its data, its subset, the architecture and the recipe.
TRIAL_KEYS = (*SUBSET_KEYS, "arch", "train")
# Recipe keys that say how a recipe runs, not what it computes: left out of fingerprints.
RUNTIME_TRAIN_KEYS = ("threads", "device")


# ---------------------------------------------------------------- seeds

def derive_seed(study_seed: int, *stream: int) -> int:
    """A 63-bit seed from SeedSequence entropy (study seed, *stream); the one derivation of
    the package (trial k: ``derive_seed(seed, k)``). SeedSequence pads entropy with zero words,
    so a stream that differs from another only by trailing zeros gives the same seed."""
    state = np.random.SeedSequence([study_seed, *stream]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def derive_rng(study_seed: int, *stream: int) -> np.random.Generator:
    """The generator for one purpose (``stream``) of a study seeded with ``study_seed``, from
    the same SeedSequence entropy as :func:`derive_seed`."""
    return np.random.default_rng(np.random.SeedSequence([study_seed, *stream]))


def trial_seed(study_seed: int, trial: int) -> int:
    """The seed of trial k (its subset, initial weights and minibatch order): (seed, k) alone."""
    return derive_seed(study_seed, trial)


# A removal run's stream: "REM", an entry no trial seed (study seed, k) has in second place.
REMOVAL_STREAM = 0x52454D
_PART_IDS = {"full": 0, "pairs": 1, "mem": 2, "random": 3}
_KIND_IDS = {"full": 0, "memorized": 1, "pairs": 2, "random": 3}
# The full model's stream: a non-zero third word can never equal a trial's entropy [seed, k].
FULL_MODEL_STREAM = (0x1A57, 1)


def removal_seed(study_seed: int, part: str, kind: str, repeat: int) -> int:
    """The seed of repeat ``repeat`` of ``kind`` in removal ``part``: (study seed,
    REMOVAL_STREAM, part family, threshold or fraction in millionths, kind, repeat)."""
    family, value = parse_part(part)
    micro = 0 if math.isnan(value) else int(round(value * 1_000_000))
    return derive_seed(study_seed, REMOVAL_STREAM, _PART_IDS[family], micro, _KIND_IDS[kind],
                       repeat)


def full_model_seed(study_seed: int) -> int:
    """Seed of the one model trained on all n examples (distinct from every trial seed)."""
    return derive_seed(study_seed, *FULL_MODEL_STREAM)


# ---------------------------------------------------------------- shards and parts

def subset_size(n: int, subset_ratio: float) -> int:
    """m = round(subset_ratio * n) (Section 2: m = 0.7 n in the paper)."""
    return int(round(subset_ratio * n))


def trial_shards(trials: int, trials_per_job: int) -> list[tuple[int, int]]:
    """Half-open trial ranges [start, stop) of the training jobs; stable when trials grows."""
    return [(start, min(start + trials_per_job, trials))
            for start in range(0, trials, trials_per_job)]


def removal_shards(repeats: int, trials_per_job: int) -> list[tuple[int, int]]:
    """Half-open repeat ranges [start, stop) of the jobs of one removal part: a job trains
    about as many models as a trial shard (``trials_per_job``, two kinds per repeat)."""
    per_job = max(1, trials_per_job // 2)
    return [(start, min(start + per_job, repeats)) for start in range(0, repeats, per_job)]


def shard_name(start: int, stop: int) -> str:
    """A shard's file stem, ``<start>-<stop>``."""
    return f"{start}-{stop}"


_PART_PATTERN = re.compile(r"^(full|pairs|(mem|random)-(\d+(?:\.\d+)?))$")


def _decimal(value: float) -> str:
    """A part name's number: plain decimal, at most six places, no exponent."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def threshold_part(threshold: float) -> str:
    """The part name of a Fig. 2 threshold, e.g. ``mem-0.25`` (plain decimal, no exponent)."""
    if not 0 <= threshold <= 1:
        raise ValueError(f"removal threshold {threshold} is outside [0, 1]")
    return f"mem-{_decimal(threshold)}"


def random_part(fraction: float) -> str:
    """The part name of a random removal of ``fraction`` of the training set, e.g.
    ``random-0.3``."""
    if not 0 < fraction < 1:
        raise ValueError(f"random removal fraction {fraction} is outside (0, 1)")
    return f"random-{_decimal(fraction)}"


def parse_part(part: str) -> tuple[str, float]:
    """(family, value) of a part name: ``full``, ``pairs``, ``mem`` (value: the threshold) or
    ``random`` (value: the fraction removed); the value is NaN for ``full`` and ``pairs``."""
    match = _PART_PATTERN.match(part)
    if not match:
        raise ValueError(f"unknown removal part '{part}'; expected full, pairs, "
                         f"mem-<threshold> or random-<fraction>")
    if match.group(2) is None:
        return match.group(1), math.nan
    return match.group(2), float(match.group(3))


# ---------------------------------------------------------------- fingerprints

def canonical(obj: Any) -> Any:
    """Mappings with sorted keys, recursively: Snakemake compares rule params as text, so
    the same values written in another key order must not look like a change."""
    if isinstance(obj, Mapping):
        return {key: canonical(obj[key]) for key in sorted(obj)}
    if isinstance(obj, list | tuple):
        return [canonical(item) for item in obj]
    return obj


def fingerprint(obj: Any) -> str:
    """16 hex digits of the SHA-256 of ``obj`` as key-sorted JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def recipe_fingerprint_part(train: Mapping[str, Any]) -> dict[str, Any]:
    """A recipe as fingerprints see it: without :data:`RUNTIME_TRAIN_KEYS`."""
    return {k: v for k, v in train.items() if k not in RUNTIME_TRAIN_KEYS}


# ---------------------------------------------------------------- defaults

def _filling_validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    """A validator that fills each missing property with a copy of its schema default
    (jsonschema's FAQ recipe, as snakemake.utils.validate(set_default=True) does)."""
    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})(schema)


def fill_dependent_defaults(values: Any, part: str = "config") -> None:
    """Fill in, in place and before the schema's own defaults, the defaults that depend on
    another value: an unset ``train.ensemble_size`` follows the study's ``trials_per_job``,
    gcd(the schema's default, trials_per_job): the default (16) where it divides
    trials_per_job (64, the default: unchanged), else the largest divisor it shares (8 for 8),
    so that no study is refused for a multiple its user never set. ``values`` is a config
    (``part="config"``) or one study (``part="study"``); what the schema would refuse is left
    to it."""
    if not isinstance(values, dict) or part not in ("config", "study"):
        return
    studies = values.get("studies") if part == "config" else {"": values}
    for study in studies.values() if isinstance(studies, dict) else ():
        if not isinstance(study, dict) or not isinstance(study.get("train", {}), dict):
            continue
        per_job = study.get("trials_per_job", schema_default("trials_per_job", part="study"))
        if isinstance(per_job, int) and not isinstance(per_job, bool) and per_job >= 1 \
                and "ensemble_size" not in study.get("train", {}):
            size = math.gcd(schema_default("ensemble_size", part="train"), per_job)
            study.setdefault("train", {})["ensemble_size"] = size


def with_defaults(values: Mapping[str, Any] | None = None, part: str = "study"
                  ) -> dict[str, Any]:
    """A copy of ``values`` with every default of the schema filled in, validated: ``part`` is
    a definition of the schema (``study``, ``train``, ``removal``) or ``config`` (a whole
    config). For tests, benchmarks and API users; the workflow fills the same defaults with
    ``snakemake.utils.validate``. jsonschema.ValidationError for a value the schema refuses."""
    schema = load_schema()
    if part != "config":
        schema = {"$schema": schema["$schema"], "definitions": schema["definitions"],
                  "$ref": f"#/definitions/{part}"}
    filled = copy.deepcopy(dict(values or {}))
    fill_dependent_defaults(filled, part)
    _filling_validator(schema).validate(filled)
    return filled


# ---------------------------------------------------------------- the study

@dataclass(frozen=True)
class Study:
    """One study as its config describes it (``config``: its key-sorted mapping, schema
    defaults filled in; built once by :meth:`from_config`), or as much of it as a stage's
    params carry (:meth:`from_params`)."""

    name: str
    config: Mapping[str, Any]

    @classmethod
    def from_config(cls, name: str, study: Mapping[str, Any]) -> Study:
        """From ``studies.<name>`` of a schema-validated config."""
        return cls(name, canonical(study))

    @classmethod
    def from_params(cls, params: Mapping[str, Any], name: str = "") -> Study:
        """From what a rule passes its job (e.g. :meth:`training_params`); a ``fingerprint``
        there that is not this study's trials fingerprint is refused (ValueError)."""
        study = cls(name, canonical(params))
        recorded = params.get("fingerprint")
        if recorded is not None and all(key in params for key in TRIAL_KEYS) \
                and recorded != study.trials_fingerprint:
            raise ValueError(f"study params carry fingerprint {recorded}, but their trial keys "
                             f"give {study.trials_fingerprint}")
        return study

    @classmethod
    def of(cls, study: Study | Mapping[str, Any]) -> Study:
        """``study`` itself, or a Study from a params mapping."""
        return study if isinstance(study, Study) else cls.from_params(study)

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def arch(self) -> str:
        return self.config["arch"]

    @property
    def dataset(self) -> str:
        return self.config["dataset"]

    @property
    def train(self) -> Mapping[str, Any]:
        """The recipe's mapping (``recipe.Recipe.from_config`` builds the Recipe)."""
        return self.config["train"]

    @property
    def trials(self) -> int:
        """t; for a study that trains until its findings replicate, the most it may train
        (``trials.max``: the rounds decide the t it stops at, :attr:`until`)."""
        trials = self.config["trials"]
        return trials["max"] if isinstance(trials, Mapping) else trials

    @property
    def until(self) -> Until | None:
        """The study's ``trials: {until: ..., step, max}``, None for a fixed t."""
        return until_of(self.config["trials"])


    def subset_size(self, n: int) -> int:
        """m of the study's trials on n examples."""
        return subset_size(n, self.config["subset_ratio"])

    # ---- seeds
    def trial_seed(self, trial: int) -> int:
        return trial_seed(self.seed, trial)

    def removal_seed(self, part: str, kind: str, repeat: int) -> int:
        return removal_seed(self.seed, part, kind, repeat)

    @property
    def full_model_seed(self) -> int:
        return full_model_seed(self.seed)

    # ---- fingerprints
    @property
    def data_fingerprint(self) -> str:
        """Hash of what determines the study's dataset (:data:`DATA_KEYS`)."""
        return fingerprint({key: self.config.get(key) for key in DATA_KEYS})

    @property
    def trials_fingerprint(self) -> str:
        """Hash of what determines every trial (:data:`TRIAL_KEYS`; the recipe without
        :data:`RUNTIME_TRAIN_KEYS`)."""
        values = {key: self.config.get(key) for key in TRIAL_KEYS}
        return fingerprint({**values, "train": recipe_fingerprint_part(self.train)})

    def lastlayer_fingerprint(self, linear_train: Mapping[str, Any]) -> str:
        """Hash of what determines the linear trials: the study's trials fingerprint (data,
        architecture and recipe of the representation, subsets) and the linear recipe."""
        return fingerprint({"study": self.trials_fingerprint,
                            "linear": recipe_fingerprint_part(linear_train)})

    # ---- the params the rules pass (key-sorted)
    def data_params(self) -> dict[str, Any]:
        """What determines the study's data, for ``make_study_data`` (the dataset itself is
        the rule's input, its cache file)."""
        values = {key: self.config[key] for key in DATA_KEYS if key != "dataset"}
        return canonical({**values, "fingerprint": self.data_fingerprint})

    def training_params(self) -> dict[str, Any]:
        """What determines a trial (and a removal run, and the full model); without
        ``trials``, so adding trials retrains nothing old."""
        values = {key: self.config[key] for key in TRIAL_KEYS}
        return canonical({**values, "fingerprint": self.trials_fingerprint})

    def all_trials_params(self) -> dict[str, Any]:
        """The trials' parameters and t: what the linear trials and ``about.json`` depend on."""
        return canonical({**self.training_params(), "trials": self.trials})

    def store_params(self) -> dict[str, Any]:
        """The study as the correctness store records it; without ``removal``, so a change of
        Fig. 2's thresholds or repeats re-aggregates and re-estimates nothing."""
        return {key: value for key, value in self.config.items() if key != "removal"}

    # ---- shard and part names
    def trial_shards(self, trials: int | None = None) -> list[tuple[int, int]]:
        """The training jobs of the study's t (or of its first ``trials``)."""
        return trial_shards(self.trials if trials is None else trials,
                            self.config["trials_per_job"])

    def trial_shard_names(self, trials: int | None = None) -> list[str]:
        """``<start>-<stop>`` of every training job (``results/{study}/trials/<name>.h5``) of
        the study's t (or of its first ``trials``)."""
        return [shard_name(start, stop) for start, stop in self.trial_shards(trials)]

    def removal_parts(self, families: Collection[str]) -> list[str]:
        """The removal parts of the families: ``full`` (the baseline), ``mem`` (one part per
        Fig. 2 threshold), ``pairs`` (the pairs' training examples) and ``random`` (one part
        per fraction in ``removal.random_fractions``)."""
        removal = self.config["removal"]
        parts = ["full"] if "full" in families else []
        if "mem" in families:
            parts += [threshold_part(threshold) for threshold in removal["thresholds"]]
        if "pairs" in families:
            parts.append("pairs")
        if "random" in families:
            parts += [random_part(fraction) for fraction in removal["random_fractions"]]
        return parts

    def removal_shards(self) -> list[tuple[int, int]]:
        return removal_shards(self.config["removal"]["repeats"], self.config["trials_per_job"])

    def removal_shard_names(self) -> list[str]:
        """``<start>-<stop>`` of every job of a removal part."""
        return [shard_name(start, stop) for start, stop in self.removal_shards()]
