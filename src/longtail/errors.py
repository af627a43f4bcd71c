"""The base of every error the package raises for a user to fix.

Each layer raises its own subclass, whose message names the file, folder, config key or
value that is wrong: :class:`longtail.config.ConfigError` (configuration),
:class:`longtail.data.DataError` (datasets), :class:`longtail.store.StoreError` and its
subclasses for the file formats (:class:`~longtail.estimates.EstimatesError`,
:class:`~longtail.removal.RemovalError`, :class:`~longtail.scores.ScoresError`). Each keeps its
second base (``ValueError`` or ``RuntimeError``), so code that catches those still works. The
``longtail`` command catches :class:`LongtailError` once and exits with status 1 and the
message; a test (``tests/test_cli.py``) checks that every error class of the package derives
from it.
"""

from __future__ import annotations


class LongtailError(Exception):
    """Something a user must fix (a file, a dataset, a config value); the message says what."""
