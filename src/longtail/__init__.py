"""Subsampled memorization and influence estimation (Feldman & Zhang, NeurIPS 2020).

``longtail.estimate(mask, train_correct, test_correct, train_labels, test_labels)`` runs the
estimators on arrays (see :mod:`longtail.api`). Importing the package needs no torch: only
training (:mod:`longtail.training`, :mod:`longtail.models`) and building dataset caches
(:mod:`longtail.data.build`) do.
"""

from longtail.api import Result, estimate

__version__ = "0.1.0"

__all__ = ["Result", "__version__", "estimate"]
