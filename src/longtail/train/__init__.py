"""Training, the one layer that needs torch: the recipe as data (:mod:`.recipe`), the
architectures (:mod:`.models`), the two trainers (:mod:`.training`, one model at a time with
autograd, and :mod:`.batched`, the hand-batched MLP ensemble), the workflow's training stages
(:mod:`.stages`: a shard of trials, the aggregation into the correctness store, a shard of
removal runs), K-fold training (:mod:`.kfold_training`) and the last-layer-only experiment
(:mod:`.lastlayer`).

May import: :mod:`longtail.errors`, :mod:`longtail.store`, :mod:`longtail.config`,
:mod:`longtail.data`, :mod:`longtail.estimators`, :mod:`longtail.labels`
(``tests/test_layers.py``). Importing this package loads nothing (torch comes with its modules).
"""
