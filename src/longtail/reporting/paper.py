"""Every number quoted from the paper (Feldman & Zhang 2020, "What Neural Networks Memorize
and Why"), in one place, each with the sentence it comes from. Tables, figures and captions
print them beside ours, labelled as the paper's.

The paper's choices (θ_mem = 0.25, θ_infl = 0.15, the split-half Jaccard target 0.7) are
quoted here as what the paper says; the method's defaults are another fact, kept in the config
schema (``longtail/config/config.schema.yaml``), which chose the paper's values. The 95-100% fit of
standard training is the method's premise, defined where the method is
(:mod:`longtail.estimators.estimates`) and named here too.
"""

from __future__ import annotations

from longtail.estimators.estimates import FIT_PREMISE

CITATION = "Feldman & Zhang (2020), Section 3"

# Section 2: "we chose θ_mem = 0.25 ... θ_infl = 0.15 as a value for which the Jaccard
# similarity coefficient between the two selected sets is >= 0.7" (CIFAR-100, two halves of
# 2,000 trials each). FIT_PREMISE: Section 1, standard training fits 95-100% of the training set.
MEM_THRESHOLD = 0.25
INFL_THRESHOLD = 0.15
THRESHOLDS = {"mem": MEM_THRESHOLD, "infl": INFL_THRESHOLD}
JACCARD_TARGET = 0.7
CONSISTENCY_POINT = (INFL_THRESHOLD, JACCARD_TARGET)  # (θ_infl, split-half Jaccard)
FIT = FIT_PREMISE

# Section 3: "Overall we found 35/1015/1641 pairs in MNIST/CIFAR-100/ImageNet ... The number of
# unique test examples in these pairs is 33/888/1462 (comprising 0.33%/8.88%/2.92% of the test
# set). Of those 31/774/1298 are influenced (above the 0.15 threshold) by a single training
# example ... Removing the 964 unique training examples in these pairs on CIFAR-100"; and
# "18,099 examples [with memorization estimates above 0.25] using full ResNet50 models".
PAIRS = (
    {"study": "MNIST", "dataset": "mnist", "model": "", "n": 60000, "n_test": 10000,
     "trials": 4000, "pairs": 35, "test_examples": 33, "test_single_train": 31},
    {"study": "CIFAR-100", "dataset": "cifar100", "model": "ResNet50", "n": 50000,
     "n_test": 10000, "trials": 4000, "pairs": 1015, "test_examples": 888,
     "test_single_train": 774, "train_examples": 964, "memorized": 18099},
    {"study": "ImageNet", "dataset": "imagenet", "model": "ResNet50", "n": 1281167,
     "n_test": 50000, "trials": 2000, "pairs": 1641, "test_examples": 1462,
     "test_single_train": 1298},
)

# Section 3: removing them "reduces the test accuracy by 2.46 +- 0.36%, which is comparable to
# the effect of removing 11,000 random examples ... the drop in accuracy on the test examples in
# the high-influence pairs from 72.1 +- 1.3% to 45.4 +- 1.4%".
EQUIVALENT_RANDOM = 11000
MARGINAL_UTILITY = (
    {"study": "CIFAR-100", "dataset": "cifar100", "model": "ResNet50", "n": 50000,
     "removed_pairs": 964, "drop_pairs_mean": 0.0246, "drop_pairs_std": 0.0036,
     "pairs_test_examples": 888, "pairs_accuracy_before_mean": 0.721,
     "pairs_accuracy_before_std": 0.013, "pairs_accuracy_after_pairs_mean": 0.454,
     "pairs_accuracy_after_pairs_std": 0.014, "equivalent_random": EQUIVALENT_RANDOM},
)
MARGINAL_NOTE = (f"The paper compares with removing {EQUIVALENT_RANDOM:,} random examples (a "
                 f"similar drop), not the same number.")

# Section 3 (CIFAR-100, ResNet50, t = 4000): "the 4,000 linear models ... achieve 75.8 +- 0.1%
# ... the ResNet50 model trained on the full training set ... 75.9% ... the 4,000 ResNet50
# models trained on 70% training data achieve only 72.3 +- 0.3% ... only 38 training examples
# with memorization estimates above 0.25 using linear models, compared with 18,099 ... we still
# found 457 high-influence pairs"; "This reduces the training time by a factor of 720"; 1015
# pairs with full models. Keys: the rows of tables/lastlayer.md (longtail.train.lastlayer's
# summary).
LASTLAYER = {
    "full_model_test_accuracy": "75.9%", "subset_models_test_accuracy": "72.3% ± 0.3",
    "linear_models_test_accuracy": "75.8% ± 0.1", "memorized_subset_models": "18099",
    "memorized_linear_models": "38", "pairs_subset_models": "1015",
    "pairs_linear_models": "457", "speed_ratio": "720x",
}
LASTLAYER_COLUMN = "paper (CIFAR-100, ResNet50)"
