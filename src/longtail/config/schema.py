"""The config schema, shipped inside the package (``longtail/config/config.schema.yaml``): the one
place that holds the config's defaults. The workflow validates against this file
(``rules/common.smk``), :func:`longtail.config.study.with_defaults` fills its defaults in, and a
module whose function needs a default reads it from here at import
(``DEFAULT_MEM = schema_default("thresholds", "mem")``) instead of writing the number again."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().with_name("config.schema.yaml")
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: faster start-up


@functools.cache
def load_schema() -> dict[str, Any]:
    """The config schema (parsed once; callers must not change it)."""
    return yaml.load(SCHEMA_PATH.read_text(), Loader=SafeLoader)


def schema_default(*keys: str, part: str = "config") -> Any:
    """The schema's default of one config key (a copy), e.g.
    ``schema_default("thresholds", "grid", "mem")`` or ``schema_default("min_out_trials",
    part="study")``: ``keys`` is its path below ``part`` (``config``, the whole config, or a
    definition: ``study``, ``train``, ``removal``); a ``$ref`` on the way is followed.
    KeyError for a key the schema gives no default."""
    schema = load_schema()
    node = schema if part == "config" else schema["definitions"][part]
    for key in keys:
        node = _resolved(schema, node)["properties"][key]
    return copy.deepcopy(node["default"])


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or the definition its local ``$ref`` (``#/definitions/<name>``) names."""
    ref = node.get("$ref")
    if ref is None:
        return node
    return schema["definitions"][ref.rsplit("/", 1)[-1]]
