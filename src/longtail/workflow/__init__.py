"""What the Snakemake workflow asks of the package, beside the command line at the top: the
config checks run before any job (:mod:`.checks`), the rules' input, parameter and target
functions (:mod:`.wiring`, :mod:`.detector_wiring`), each job's resources (:mod:`.resources`)
and the script adapters' logging (:mod:`.logs`). ``rules/common.smk`` imports it when the
workflow is parsed, so it loads no torch and no drawing library.

May import: :mod:`longtail.errors`, :mod:`longtail.store`, :mod:`longtail.config`,
:mod:`longtail.data`, :mod:`longtail.estimators`, :mod:`longtail.labels`; not training or
reporting (``tests/test_layers.py``). Importing this package loads nothing.
"""
