"""What a configuration means: the schema with every default (``config.schema.yaml``,
:mod:`.schema`; the defaults the estimators and the command line share, :mod:`.defaults`), a
study's ``base`` resolved into the study itself (:mod:`.bases`), the error a bad value raises
(:mod:`.errors`) and the one description of a study built from the validated config
(:mod:`.study`: its params, fingerprints, shard names and seeds). Torch-free.

May import: :mod:`longtail.errors` only; every layer above reads it (``tests/test_layers.py``).
The checks that need the data layer (split sizes, files that must exist) are the workflow's
(:mod:`longtail.workflow.checks`). Importing this package loads nothing.
"""
