"""Label errors: how well memorization estimates find flipped labels (:mod:`.noise`), K-fold
out-of-fold probabilities (:mod:`.kfold`: folds, seeds and the file; their training is
:mod:`longtail.train.kfold_training`) and the label-error detectors side by side
(:mod:`.detectors`: mem~, 1 - p_out, cleanlab). How labels are flipped is the data layer's
(:mod:`longtail.data.noise_models`). No torch.

May import: :mod:`longtail.errors`, :mod:`longtail.store`, :mod:`longtail.config`,
:mod:`longtail.data`, :mod:`longtail.estimators` (``tests/test_layers.py``). Importing this
package loads nothing.
"""
