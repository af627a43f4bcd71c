"""The error of a configuration value (:class:`ConfigError`), raised wherever a value is
judged: the schema and base checks (:mod:`longtail.workflow.checks`,
:mod:`longtail.config.bases`) and the layers that build what a study names (an architecture in
:mod:`longtail.train.models`, a recipe in :mod:`longtail.train.recipe`)."""

from __future__ import annotations

from longtail.errors import LongtailError


class ConfigError(LongtailError, ValueError):
    """A configuration value is invalid; the message names the key."""
