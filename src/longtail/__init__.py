"""Subsampled memorization and influence estimation (Feldman & Zhang, NeurIPS 2020).

``longtail.estimate(mask, train_correct, test_correct, train_labels, test_labels)`` runs the
estimators on arrays (see :mod:`longtail.estimators.api`). Importing the package needs no torch:
only training (:mod:`longtail.train.training`, :mod:`longtail.train.models`) and building dataset
caches (:mod:`longtail.data.build`) do. ``import longtail`` itself loads nothing heavy: the API
(numpy, pandas) is imported on first use of ``longtail.estimate`` or ``longtail.Result``, so
the ``longtail`` command starts fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from longtail.estimators.api import Result, estimate

__version__ = "0.1.0"

__all__ = ["Result", "__version__", "estimate"]


def __getattr__(name: str) -> object:
    """``Result`` and ``estimate`` from :mod:`longtail.estimators.api`, imported when first asked
    for."""
    if name in ("Result", "estimate"):
        from longtail.estimators import api
        return getattr(api, name)
    raise AttributeError(f"module 'longtail' has no attribute {name!r}")
