"""A study that says only how it differs from another: ``base: <study>`` and the keys that
differ. :func:`resolve_bases` replaces every such study by its base merged with its own keys
(:func:`deep_merge`), once, before the schema sees the config (``rules/common.smk``), so the
schema, the checks, the :class:`~longtail.config.study.Study` description, its fingerprints and
``about.json`` all see the merged study, without ``base``: a study written out in full and the
same study written as a difference are the same study, with the same results.

A base may have a base; a base is looked up among the config's studies after Snakemake has
merged its config files, so a preset (``--configfile studies/<preset>.yaml``) may name a study
of ``config.yaml``. An unknown base or a cycle of bases is a :class:`ConfigError` naming the
study.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from longtail.config.errors import ConfigError

BASE_KEY = "base"


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` merged into a copy of ``base``: a mapping merges key by key, recursively
    (``train: {epochs: 60}`` changes one key of the base's recipe); anything else (a number, a
    list, null) replaces the base's value, and so does a mapping that names its own ``kind``
    (an own dataset, a noise model), which is one value, not a group of settings."""
    if isinstance(base, Mapping) and isinstance(override, Mapping) and "kind" not in override:
        merged = copy.deepcopy(dict(base))
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def base_chain(name: str, studies: Mapping[str, Any]) -> list[str]:
    """The bases of study ``name``, nearest first (``[]`` without ``base``); ConfigError for a
    base that is not a study's name, names no study, or leads back to a study on the way."""
    chain, current = [], name
    while isinstance(studies[current], Mapping) and studies[current].get(BASE_KEY) is not None:
        base = studies[current][BASE_KEY]
        key = f"studies.{current}.{BASE_KEY}"
        if not isinstance(base, str):
            raise ConfigError(f"{key} = {base!r} is not allowed; allowed: the name of another "
                              f"study")
        if base not in studies:
            raise ConfigError(f"{key} = {base!r} names no study (known: {', '.join(studies)})")
        if base == name or base in chain:
            cycle = " -> ".join([name, *chain, base])
            raise ConfigError(f"studies.{name}: its bases form a cycle ({cycle}); a study's "
                              f"base must not lead back to it")
        if not isinstance(studies[base], Mapping):
            raise ConfigError(f"{key} = {base!r} names a study that is not a mapping of keys")
        chain.append(base)
        current = base
    return chain


def resolve_study(name: str, studies: Mapping[str, Any]) -> dict[str, Any]:
    """Study ``name`` with its bases merged in, farthest first, and without ``base``."""
    merged: dict[str, Any] = {}
    for study in [*reversed(base_chain(name, studies)), name]:
        merged = deep_merge(merged, {key: value for key, value in studies[study].items()
                                     if key != BASE_KEY})
    return merged


def resolve_bases(config: dict[str, Any]) -> dict[str, list[str]]:
    """Replace, in place, every study of ``config`` that has a ``base`` by the merged study
    (:func:`resolve_study`), all from the studies as written; return each such study's bases,
    nearest first (for messages). A config without ``studies`` or a study that is not a
    mapping is left to the schema to refuse."""
    studies = config.get("studies") if isinstance(config, dict) else None
    if not isinstance(studies, dict):
        return {}
    chains = {name: base_chain(name, studies) for name, study in studies.items()
              if isinstance(study, Mapping) and BASE_KEY in study}
    resolved = {name: resolve_study(name, studies) for name in chains}
    studies.update(resolved)
    return {name: chain for name, chain in chains.items() if chain}
