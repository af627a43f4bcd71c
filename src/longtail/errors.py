"""The base of every error the package raises for a user to fix.

Each layer raises its own subclass, whose message names the file, folder, config key or
value that is wrong: :class:`longtail.config.errors.ConfigError` (configuration, also a recipe
or architecture a study names), :class:`longtail.data.DataError` (datasets),
:class:`longtail.train.training.TrainingError` (training that cannot run as configured),
:class:`longtail.store.correctness.StoreError` and its subclasses for the file formats
(:class:`~longtail.estimators.estimates.EstimatesError`,
:class:`~longtail.estimators.removal.RemovalError`,
:class:`~longtail.estimators.scores.ScoresError`),
:class:`longtail.reporting.errors.ReportingError` (figures and tables) and
:class:`longtail.cli.UsageError` (a command line argparse cannot check). Each keeps its second
base (``ValueError`` or ``RuntimeError``), so code that catches those still works. The
``longtail`` command catches :class:`LongtailError` once and exits with status 1 and the
message (2 for a usage error); a test (``tests/test_cli.py``) checks that every error class of
the package derives from it. This module imports nothing: every layer may import it.
"""

from __future__ import annotations


class LongtailError(Exception):
    """Something a user must fix (a file, a dataset, a config value); the message says what."""
