"""The checks the workflow runs on a config before any job (``rules/common.smk``): one line per
schema error (:func:`schema_errors`), and what the JSON schema cannot express (cross-field,
split sizes, files that must exist). Each is a :class:`~longtail.config.errors.ConfigError`
naming the key. The studies arrive merged with their bases (:mod:`longtail.config.bases`);
what a study's config determines (params, fingerprints, shard names, seeds) is described by
:class:`longtail.config.study.Study`."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from longtail.config.errors import ConfigError
from longtail.config.study import SUBSET_KEYS, canonical, fingerprint, subset_size
from longtail.config.until import Until
from longtail.data.datasets import SPLIT_SIZES
from longtail.data.noise_models import NoiseModelError, check_matrix, noise_rate


def _allowed(schema: Mapping[str, Any]) -> str:
    """The values a schema node admits, in words."""
    if "anyOf" in schema:
        return " or ".join(_allowed(option) for option in schema["anyOf"])
    if "const" in schema:
        return str(schema["const"])
    if "oneOf" in schema:
        return "; or ".join(_allowed(option) for option in schema["oneOf"])
    if schema.get("type") == "object" and schema.get("required"):  # {kind: K, key: ...}
        kind = schema.get("properties", {}).get("kind", {}).get("const")
        fields = [f"{name}: ..." for name in schema["required"] if name != "kind"]
        return "{" + ", ".join(([f"kind: {kind}"] if kind else []) + fields) + "}"
    if "enum" in schema:
        return ", ".join(str(v) for v in schema["enum"])
    if "pattern" in schema:
        return schema.get("description", f"a string matching {schema['pattern']}")
    bounds = []
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                    ("exclusiveMaximum", "<")):
        if key in schema:
            bounds.append(f"{op} {schema[key]}")
    types = schema.get("type", "")
    kind = " or ".join(types) if isinstance(types, list) else types
    return " and ".join(bounds) + (f" ({kind})" if kind else "") if bounds else kind


def schema_errors(config: Mapping[str, Any], schema: Mapping[str, Any],
                  bases: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """One line per schema violation: the key path, its value, and the allowed values. The
    studies are checked as merged with their bases (:func:`longtail.config.bases.resolve_bases`,
    whose result ``bases`` is): a line about such a study says which bases it merged."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    lines = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        path = list(error.absolute_path)
        key = ".".join(str(part) for part in path) or "<config>"
        if error.validator in ("additionalProperties", "required"):
            line = f"{key}: {error.message}"
        else:
            line = f"{key} = {error.instance!r} is not allowed; allowed: {_allowed(error.schema)}"
        chain = (bases or {}).get(path[1]) if len(path) > 1 and path[0] == "studies" else None
        lines.append(line + (f" (study {path[1]} is merged with its base"
                             f"{'s' if len(chain) > 1 else ''} {', '.join(chain)})"
                             if chain else ""))
    return lines


def is_custom(dataset: str | Mapping[str, Any]) -> bool:
    """A user's own dataset (a mapping ``{kind: folder|arrays, ...}``), not a built-in one."""
    return isinstance(dataset, Mapping)


def dataset_key(dataset: str | Mapping[str, Any]) -> str:
    """The name of a dataset's cache file (``<data.dir>/<key>.h5``): a built-in dataset's
    name, or for a user's own ``<kind>-<file or folder name>-<hash of the mapping>``."""
    if not is_custom(dataset):
        return str(dataset)
    location = str(dataset.get("root") or dataset.get("path") or "")
    slug = re.sub(r"[^a-z0-9]+", "-", Path(location).stem.lower()).strip("-")[:24] or "data"
    return f"{dataset['kind']}-{slug}-{fingerprint(canonical(dict(dataset)))[:8]}"


def name_custom_datasets(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Replace each study's own-dataset mapping by its :func:`dataset_key` (what every stage,
    file attribute and fingerprint records) and return ``{key: mapping}`` for the cache rule."""
    custom = {}
    for study in config["studies"].values():
        if is_custom(study["dataset"]):
            key = dataset_key(study["dataset"])
            custom[key] = dict(study["dataset"])
            study["dataset"] = key
    return custom


def study_sizes(study: Mapping[str, Any]) -> tuple[int, int]:
    """(n, n_test) of a study: its subsample sizes, or the whole splits when null."""
    n_split, n_test_split = SPLIT_SIZES[study["dataset"]]
    n = study.get("n_train") or n_split
    n_test = study.get("n_test") or n_test_split
    return n, n_test


def check_study(name: str, study: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Raise ConfigError (naming ``studies.<name>.<key>``) for values the schema cannot judge."""
    key = f"studies.{name}"
    check_noise_model(key, study.get("label_noise"))
    if is_custom(study["dataset"]) or study["dataset"] not in SPLIT_SIZES:  # own data
        check_own_study(key, study)
        return
    n_split, n_test_split = SPLIT_SIZES[study["dataset"]]
    n, n_test = study_sizes(study)
    if n > n_split:
        raise ConfigError(f"{key}.n_train = {n} is larger than the {study['dataset']} train "
                          f"split ({n_split} examples); allowed: 2..{n_split} or null")
    if n_test > n_test_split:
        raise ConfigError(f"{key}.n_test = {n_test} is larger than the {study['dataset']} test "
                          f"split ({n_test_split} examples); allowed: 1..{n_test_split} or null")
    m = subset_size(n, study["subset_ratio"])
    if not 1 <= m < n:
        raise ConfigError(f"{key}.subset_ratio = {study['subset_ratio']} gives m = {m} of "
                          f"n = {n}; allowed: 1 <= m < n")
    trials = study["trials"]
    if isinstance(trials, Mapping):  # trials: {until: ..., step, max}: its first round
        trials = Until.parse(trials, f"{key}.trials", study["trials_per_job"]).step
    expected_out = trials * (1 - m / n)
    if expected_out < study["min_out_trials"]:
        raise ConfigError(
            f"{key}.subset_ratio = {study['subset_ratio']} with trials = {trials} leaves "
            f"each example out of only {expected_out:.1f} trials on average; need at least "
            f"min_out_trials = {study['min_out_trials']} (lower subset_ratio or raise trials)")
    train = study["train"]
    if study["trials_per_job"] % train["ensemble_size"] and train["ensemble_size"] > 1:
        raise ConfigError(
            f"{key}.trials_per_job = {study['trials_per_job']} must be a multiple of "
            f"{key}.train.ensemble_size = {train['ensemble_size']} (so batched groups, and "
            f"hence results, do not depend on how trials are split into jobs)")
    if study["dataset"] == "imagenet" and not data.get("imagenet_root"):
        raise ConfigError(f"{key}.dataset = imagenet needs data.imagenet_root: the folder with "
                          f"the ILSVRC2012 archives (see README)")
    rate = noise_rate(study["label_noise"])
    if rate and round(rate * n) < 1:
        raise ConfigError(f"{key}.label_noise = {study['label_noise']} flips no label of "
                          f"n = {n} examples; allowed: 0 or >= 1/n")


def check_noise_model(key: str, spec: Any) -> None:
    """A transition matrix must be square and row-stochastic (the error names the row)."""
    if isinstance(spec, Mapping) and spec.get("kind") == "matrix":
        try:
            check_matrix(spec["matrix"])
        except NoiseModelError as err:
            raise ConfigError(f"{key}.{err}") from None


def check_own_study(key: str, study: Mapping[str, Any]) -> None:
    """The checks of :func:`check_study` that need no split sizes (a user's own dataset,
    whose sizes ``make_study_data`` checks against its cache before any training)."""
    n = study.get("n_train")
    if n is not None:
        m = subset_size(n, study["subset_ratio"])
        if not 1 <= m < n:
            raise ConfigError(f"{key}.subset_ratio = {study['subset_ratio']} gives m = {m} of "
                              f"n = {n}; allowed: 1 <= m < n")
    train = study["train"]
    if study["trials_per_job"] % train["ensemble_size"] and train["ensemble_size"] > 1:
        raise ConfigError(
            f"{key}.trials_per_job = {study['trials_per_job']} must be a multiple of "
            f"{key}.train.ensemble_size = {train['ensemble_size']}")


def check_own_data_paths(config: Mapping[str, Any]) -> None:
    """Refuse, before any job runs, an own dataset whose folder or file does not exist."""
    for name, study in config["studies"].items():
        spec = study["dataset"]
        if is_custom(spec):
            path = Path(spec.get("root") or spec.get("path"))
            ok = path.is_dir() if spec["kind"] == "folder" else path.is_file()
            field = "root" if spec["kind"] == "folder" else "path"
            if not ok:
                raise ConfigError(f"studies.{name}.dataset.{field} = {str(path)!r} is not a "
                                  f"{'folder' if field == 'root' else 'file'} (relative paths "
                                  f"are relative to the working directory)")


def check_config(config: Mapping[str, Any]) -> None:
    """Cross-field checks of a schema-validated config (defaults already filled in)."""
    for name, study in config["studies"].items():
        check_study(name, study, config.get("data", {}))
    check_released(config)
    named = [(f"figures.{figure}", studies) for figure, studies in
             config.get("figures", {}).items()]
    named.append(("galleries.studies", config.get("galleries", {}).get("studies", [])))
    for key, studies in named:
        for study in studies:
            if study not in config["studies"]:
                raise ConfigError(f"{key} names study '{study}', which is not in "
                                  f"studies (known: {', '.join(config['studies'])})")
    check_lastlayer_and_compare(config)
    check_detectors(config)


def check_detectors(config: Mapping[str, Any]) -> None:
    """Refuse, before any job trains, a `detectors` section that could only fail later: a
    listed study that is unknown, released or without label noise, a `main_folds` not among
    `folds`, or listed studies without cleanlab installed."""
    settings = config.get("detectors") or {}
    studies = settings.get("studies")
    if studies:
        released = released_studies(config)
        trained = [name for name in config["studies"] if name not in released]
        for study in studies:
            if study not in trained:
                raise ConfigError(f"detectors.studies names study '{study}', which is not a "
                                  f"trained study (trained: {', '.join(trained)})")
            if not noise_rate(config["studies"][study].get("label_noise", 0.0)) > 0:
                raise ConfigError(f"detectors.studies names study '{study}', whose label_noise "
                                  f"is 0: it has no flipped label to detect")
        if importlib.util.find_spec("cleanlab") is None:
            raise ConfigError("detectors.studies is set but cleanlab is not installed: "
                              "pip install 'longtail[cleanlab]' (or leave detectors.studies unset)")
    if "main_folds" in settings and "folds" in settings and \
            settings["main_folds"] not in settings["folds"]:
        raise ConfigError(f"detectors.main_folds = {settings['main_folds']} is not one of "
                          f"detectors.folds {settings['folds']}")


def check_data_paths(config: Mapping[str, Any], data_dir: str | os.PathLike) -> None:
    """Refuse, before any job runs, a ``data.imagenet_root`` that is not a folder while an
    ImageNet study still needs its cache (``<data_dir>/imagenet.h5``) built from it."""
    root = config.get("data", {}).get("imagenet_root")
    cache = Path(data_dir) / "imagenet.h5"
    imagenet = any(study["dataset"] == "imagenet" for study in config["studies"].values())
    if imagenet and root and not Path(root).is_dir() and not cache.exists():
        raise ConfigError(f"data.imagenet_root = {root!r} is not a folder (needed to build "
                          f"{cache}); allowed: the folder with ILSVRC2012_img_train.tar, "
                          f"ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz")


# What needs a study's trained models (or its correctness store): refused for released studies.
NEEDS_TRAINING = {"figures": ("fig2",), "tables": ("marginal_utility",)}


def released_studies(config: Mapping[str, Any]) -> list[str]:
    """Studies whose estimates come from the authors' released file (key ``released``)."""
    return [name for name, study in config["studies"].items() if study.get("released")]


def check_released(config: Mapping[str, Any]) -> None:
    """A released study covers whole splits without noise, and nothing that needs its trained
    models (Fig. 2, marginal utility, last layer, comparisons) names it."""
    for name in released_studies(config):
        study = config["studies"][name]
        key = f"studies.{name}"
        for field in ("n_train", "n_test"):
            if study.get(field) is not None:
                raise ConfigError(f"{key}.{field} = {study[field]}: a released estimate file "
                                  f"covers the whole split; allowed: null")
        if study.get("label_noise"):
            raise ConfigError(f"{key}.label_noise = {study['label_noise']}: released estimates "
                              f"were computed without label noise; allowed: 0")
        uses = [f"{kind}.{item}" for kind, items in NEEDS_TRAINING.items() for item in items
                if name in config.get(kind, {}).get(item, [])]
        uses += ["lastlayer.studies"] if name in config.get("lastlayer", {}).get("studies",
                                                                                 []) else []
        uses += [f"compare.groups.{group}" for group, members in
                 config.get("compare", {}).get("groups", {}).items() if name in members]
        if uses:
            raise ConfigError(f"{', '.join(uses)} names study '{name}', whose estimates are "
                              f"imported from {study['released']} (no trained models to "
                              f"retrain or compare); remove it there")


def check_released_files(config: Mapping[str, Any]) -> None:
    """Refuse, before any job runs, a ``released`` file that does not exist."""
    for name in released_studies(config):
        path = config["studies"][name]["released"]
        if not Path(path).is_file():
            raise ConfigError(f"studies.{name}.released = {path!r} is not a file; allowed: the "
                              f"authors' released estimates, e.g. cifar100_infl_matrix.npz")


def check_lastlayer_and_compare(config: Mapping[str, Any]) -> None:
    """``lastlayer.studies`` and ``compare.groups`` name known studies; a group's studies
    share data and subsets (every key of SUBSET_KEYS), so trial k is the same I_k."""
    known = config["studies"]
    named = [("lastlayer.studies", s) for s in config.get("lastlayer", {}).get("studies", [])]
    groups = config.get("compare", {}).get("groups", {})
    named += [(f"compare.groups.{group}", s) for group, studies in groups.items()
              for s in studies]
    for key, study in named:
        if study not in known:
            raise ConfigError(f"{key} names study '{study}', which is not in studies "
                              f"(known: {', '.join(known)})")
        if isinstance(known[study].get("trials"), Mapping):
            raise ConfigError(f"{key} names study '{study}', whose trials train until a "
                              f"target (studies.{study}.trials.until); the last layer and the "
                              f"comparison need a fixed number of trials")
    for group, studies in groups.items():
        first = known[studies[0]]
        for other in studies[1:]:
            for field in SUBSET_KEYS:
                if known[other].get(field) != first.get(field):
                    raise ConfigError(
                        f"compare.groups.{group}: studies {studies[0]} and {other} differ in "
                        f"{field} ({first.get(field)!r} vs {known[other].get(field)!r}); a group "
                        f"compares architectures on the same data and subsets, so "
                        f"{', '.join(SUBSET_KEYS)} must agree")
