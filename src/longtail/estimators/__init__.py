"""Algorithm 1 and what is computed from its estimates: the estimators (:mod:`.algorithm1`,
``estimates.h5`` in :mod:`.estimates`), the selection of high-influence pairs (:mod:`.select`),
whether it replicates (:mod:`.reliability`), a study's summary (:mod:`.summary`), the removal
experiment's plan, files and statistics (:mod:`.removal`, :mod:`.welch`), the agreement of two
sets of estimates (:mod:`.agreement`), and the estimates as others use them: the arrays API
behind ``longtail.estimate`` (:mod:`.api`), per-example score tables (:mod:`.scores`) and the
paper authors' released files (:mod:`.released`). No torch.

May import: :mod:`longtail.errors`, :mod:`longtail.store`, :mod:`longtail.config`,
:mod:`longtail.data` (``tests/test_layers.py``). Importing this package loads nothing.
"""
