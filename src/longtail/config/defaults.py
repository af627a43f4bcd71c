"""The defaults the estimators, the selection and the command line share, read from the config
schema (:mod:`longtail.config.schema`, the one place that holds them) without numpy, so that
``longtail --help`` can show them without loading numpy, h5py or pandas.

Each is re-exported by the module that uses it (``longtail.estimators.algorithm1``,
``longtail.estimators.estimates``, ``longtail.estimators.select``,
``longtail.estimators.reliability``, ``longtail.estimators.scores``).
"""

from __future__ import annotations

from longtail.config.schema import schema_default

DEFAULT_MIN_TRIALS = schema_default("min_out_trials", part="study")  # Lemma 2.1's warning
INFLUENCE_MODES = ("same-class", "full", "none")
DEFAULT_INFLUENCE = schema_default("influence")
SCORE_FORMATS = (".csv", ".npz", ".parquet")
DEFAULT_MEM_THRESHOLD = schema_default("thresholds", "mem")    # the paper's 0.25 (Section 2)
DEFAULT_INFL_THRESHOLD = schema_default("thresholds", "infl")  # the paper's 0.15 (Section 2)
DEFAULT_CONSISTENCY_THRESHOLDS = tuple(schema_default("thresholds", "grid", "infl"))
DEFAULT_TARGET = schema_default("thresholds", "target")  # the paper's 0.7 (Section 2)
DEFAULT_GRIDS = {"mem": tuple(schema_default("thresholds", "grid", "mem")),
                 "infl": DEFAULT_CONSISTENCY_THRESHOLDS}
DEFAULT_PERMUTATIONS = schema_default("thresholds", "chance_permutations")
DEFAULT_SPLITS = schema_default("thresholds", "splits")
DEFAULT_MIN_PAIRS = schema_default("thresholds", "min_pairs")
DEFAULT_FORECAST = tuple(schema_default("thresholds", "forecast"))  # θ_infl of forecast.json
# What `auto` falls back to when no grid value replicates: the schema's default thresholds.
PAPER_THRESHOLDS = {"mem": DEFAULT_MEM_THRESHOLD, "infl": DEFAULT_INFL_THRESHOLD}
# The selections whose split-half reliability the trials curve, the forecast and `trials:
# {until: ...}` follow.
SELECTIONS = ("pairs", "memorized")
DEFAULT_TOP = 10  # influencers / influenced the explorer stores per example
