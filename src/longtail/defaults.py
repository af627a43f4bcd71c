"""The defaults the estimators, the selection and the command line share, in plain Python.

Each is defined here once and re-exported by the module that uses it (``longtail.algorithm1``,
``longtail.estimates``, ``longtail.select``, ``longtail.reliability``, ``longtail.scores``), so
``longtail --help`` can show them without loading numpy, h5py or pandas.
"""

from __future__ import annotations

DEFAULT_MIN_TRIALS = 8  # warn about examples in or out of fewer valid trials (Lemma 2.1)
INFLUENCE_MODES = ("same-class", "full", "none")
SCORE_FORMATS = (".csv", ".npz", ".parquet")
DEFAULT_MEM_THRESHOLD = 0.25   # Section 2
DEFAULT_INFL_THRESHOLD = 0.15  # Section 2
DEFAULT_CONSISTENCY_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 11))  # 0.05..0.50
DEFAULT_TARGET = 0.7  # Section 2: "Jaccard similarity coefficient ... >= 0.7"
DEFAULT_GRIDS = {"mem": tuple(round(0.05 * k, 2) for k in range(1, 20)),  # 0.05..0.95
                 "infl": DEFAULT_CONSISTENCY_THRESHOLDS}
DEFAULT_PERMUTATIONS = 4
