"""Pure estimators of Algorithm 1 (Feldman & Zhang 2020, Section 2).

For a training example i and a target example z (i itself for memorization, test example j
for influence) Algorithm 1 estimates

    Pr_{k~[t]}[h_k correct on z | i in I_k] - Pr_{k~[t]}[h_k correct on z | i not in I_k]

(line 5: ``mem``; line 7: ``infl``) over the valid (non-diverged) trials. Every estimate here is
computed from four counts, which are sums over the trial axis and therefore *additive over blocks
of trials*:

* ``n_in``    number of trials with i in I_k            (column sums of ``mask``)
* ``n``       number of trials                          (rows of ``mask``)
* ``hits_in`` trials with i in I_k and z correct         (``mask^T correct``)
* ``hits``    trials with z correct                      (column sums of ``correct``)

so ``Pr[. | i notin I_k] = (hits - hits_in) / (n - n_in)``. For influence ``hits_in`` is the
matrix product ``M^T C`` of the (t, n) mask with the (t, n_test) test correctness, computed in
float32 (exact for integer counts below 2**24) in blocks of training examples, or per class for
same-class pairs (Section 2 selects only pairs with y_i = y'_j).

Arrays passed in hold the *valid* trials only; dropping diverged trials is the caller's job
(``longtail.estimators.estimates`` does it while reading the store).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from longtail.config.defaults import DEFAULT_MIN_TRIALS

DEFAULT_BLOCK_SIZE = 2048
CACHE_ELEMENTS = 2**18  # float32 elements per elementwise pass (1 MB, fits in L2)
RECOVERY_TOLERANCE = 0.25  # most a stored estimate may sit from its exact count (see below)


class TooFewTrialsWarning(UserWarning):
    """Some example is in (or out of) fewer trials than the configured minimum."""


@dataclass(frozen=True)
class MemEstimate:
    """Alg. 1 line 5 for every training example, with its counts and standard error."""

    mem: np.ndarray      # (n,) float64, NaN where n_in == 0 or n_out == 0
    mem_se: np.ndarray   # (n,) float64
    n_in: np.ndarray     # (n,) int64, trials with i in I_k
    n_out: np.ndarray    # (n,) int64, trials with i not in I_k
    n_few: int           # examples with min(n_in, n_out) < min_trials


@dataclass(frozen=True)
class InfluenceBlock:
    """Alg. 1 line 7 for the grid ``train_index x test_index``: infl[a, b] is the influence of
    training example ``train_index[a]`` on test example ``test_index[b]``."""

    train_index: np.ndarray  # (a,) int64
    test_index: np.ndarray   # (b,) int64
    infl: np.ndarray         # (a, b) float32
    infl_se: np.ndarray      # (a, b) float32


@dataclass(frozen=True)
class ClassLayout:
    """Training and test examples grouped by label, for same-class influence blocks."""

    classes: np.ndarray       # (c,) sorted labels occurring in train or test
    train_order: np.ndarray   # (n,) train indices sorted by (label, index)
    test_order: np.ndarray    # (n_test,) test indices sorted by (label, index)
    train_bounds: np.ndarray  # (c + 1,) train_order[train_bounds[c]:train_bounds[c+1]] = class c
    test_bounds: np.ndarray   # (c + 1,)

    def train_index(self, c: int) -> np.ndarray:
        return self.train_order[self.train_bounds[c]:self.train_bounds[c + 1]]

    def test_index(self, c: int) -> np.ndarray:
        return self.test_order[self.test_bounds[c]:self.test_bounds[c + 1]]


def proportion_difference(hits_in: np.ndarray, n_in: np.ndarray, hits: np.ndarray,
                          n: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Alg. 1 lines 5/7 from counts: ``p_in - p_out`` and its standard error.

    ``p_in = hits_in / n_in`` and ``p_out = (hits - hits_in) / (n - n_in)``; the standard error
    is that of a difference of two independent proportions,
    ``sqrt(p_in (1 - p_in) / n_in + p_out (1 - p_out) / n_out)``. Arguments broadcast; the
    result is float32 when ``hits_in`` is float32 (the matmul path) and float64 otherwise. An
    example with no in-trials or no out-trials gets NaN (never a division by zero).
    """
    dtype = np.result_type(np.asarray(hits_in).dtype, np.float32)
    hits_in = np.asarray(hits_in, dtype)
    n_in = np.asarray(n_in, dtype)
    n_out = np.asarray(n, dtype) - n_in
    with np.errstate(divide="ignore", invalid="ignore"):
        p_in = hits_in / n_in
        p_out = np.asarray(hits, dtype) - hits_in
        p_out /= n_out
        infl = p_in - p_out
        var = p_in * (1 - p_in)
        var /= n_in
        p_out *= 1 - p_out
        p_out /= n_out
        var += p_out
        se = np.sqrt(var, out=var)
    undefined = (n_in <= 0) | (n_out <= 0)
    if undefined.any():
        undefined = np.broadcast_to(undefined, infl.shape)
        infl[undefined] = np.nan
        se[undefined] = np.nan
    return infl, se


def count_few_trials(n_in: np.ndarray, n_out: np.ndarray,
                     min_trials: int = DEFAULT_MIN_TRIALS) -> int:
    """Number of examples in fewer than ``min_trials`` trials, or left out of fewer; warns.

    Lemma 2.1 needs many trials on both sides of every example; an example in (or out of) no
    trial at all has no estimate (NaN), one with a few has a large standard error.
    """
    n_in, n_out = np.asarray(n_in), np.asarray(n_out)
    few = (n_in < min_trials) | (n_out < min_trials)
    n_few = int(few.sum())
    if n_few:
        never = int(((n_in == 0) | (n_out == 0)).sum())
        warnings.warn(
            f"{n_few} of {len(n_in)} training examples are in or out of fewer than "
            f"{min_trials} valid trials (fewest in: {int(n_in.min())}, fewest out: "
            f"{int(n_out.min())}); {never} of them are never in or never out of a subset and "
            f"get NaN estimates. Run more trials or use a subset ratio nearer 0.5.",
            TooFewTrialsWarning, stacklevel=2)
    return n_few


def _count_true(a: np.ndarray) -> np.ndarray:
    """Column sums of a (t, n) bool array as int64, without a (t, n) integer copy: up to 255
    rows at a time are summed as uint8 (exact; one vector add per row, no widening), their
    sums as int64."""
    rows = a.view(np.uint8)
    total = np.zeros(rows.shape[1:], np.int64)
    for start in range(0, len(rows), 255):
        total += np.add.reduce(rows[start:start + 255], axis=0, dtype=np.uint8)
    return total


def mem_counts(mask: np.ndarray, correct: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(hits_in, n_in, hits)`` of Alg. 1 line 5 for (t, n) bool ``mask`` and ``correct``.

    All three are (n,) int64 sums over trials, so counts of consecutive trial blocks add up.
    """
    mask = np.asarray(mask, dtype=bool)
    correct = np.asarray(correct, dtype=bool)
    if mask.shape != correct.shape or mask.ndim != 2:
        raise ValueError(f"mask {mask.shape} and train_correct {correct.shape} must be the same "
                         f"(t, n) shape")
    return _count_true(mask & correct), _count_true(mask), _count_true(correct)


def memorization(mask: np.ndarray, correct: np.ndarray, *,
                 min_trials: int = DEFAULT_MIN_TRIALS) -> MemEstimate:
    """Alg. 1 line 5, ``mem~_m(A, S, i)`` for all i, from the (t, n) valid trials."""
    hits_in, n_in, hits = mem_counts(mask, correct)
    return mem_from_counts(hits_in, n_in, hits, len(mask), min_trials=min_trials)


def mem_from_counts(hits_in: np.ndarray, n_in: np.ndarray, hits: np.ndarray, n: int, *,
                    min_trials: int = DEFAULT_MIN_TRIALS) -> MemEstimate:
    """Alg. 1 line 5 from (accumulated) counts, see :func:`mem_counts`."""
    n_in = np.asarray(n_in, dtype=np.int64)
    mem, mem_se = proportion_difference(np.asarray(hits_in, np.int64), n_in, hits, n)
    n_out = n - n_in
    return MemEstimate(mem=mem, mem_se=mem_se, n_in=n_in, n_out=n_out,
                       n_few=count_few_trials(n_in, n_out, min_trials))


def influence_blocks(mask: np.ndarray, test_correct: np.ndarray, *,
                     block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[InfluenceBlock]:
    """Alg. 1 line 7 for all n x n_test pairs, one block of ``block_size`` training examples at a
    time: ``hits_in = M_b^T C`` as a float32 matmul over the trial axis.

    Peak memory is the bool inputs, C in float32 (t x n_test) and a few (block_size, n_test)
    float32 arrays, whatever n is.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or np.ndim(test_correct) != 2 or len(test_correct) != len(mask):
        raise ValueError(f"mask {mask.shape} and test_correct {np.shape(test_correct)} must be "
                         f"(t, n) and (t, n_test)")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    t, n = mask.shape
    test = np.asarray(test_correct, dtype=np.float32)
    hits = test.sum(axis=0)
    test_index = np.arange(test.shape[1])
    rows = max(1, CACHE_ELEMENTS // max(test.shape[1], 1))
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        m_block = mask[:, start:stop].astype(np.float32)
        hits_in = m_block.T @ test
        n_in = m_block.sum(axis=0)[:, None]
        infl = np.empty_like(hits_in)
        se = np.empty_like(hits_in)
        for r in range(0, stop - start, rows):  # a few rows at a time, in cache
            infl[r:r + rows], se[r:r + rows] = proportion_difference(
                hits_in[r:r + rows], n_in[r:r + rows], hits, t)
        yield InfluenceBlock(np.arange(start, stop), test_index, infl, se)


def influence(mask: np.ndarray, test_correct: np.ndarray, *,
              block_size: int = DEFAULT_BLOCK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Alg. 1 line 7 as dense (n, n_test) float32 ``(infl, infl_se)`` (for small problems;
    ``longtail.estimators.estimates`` streams :func:`influence_blocks` to disk instead)."""
    n, n_test = np.shape(mask)[1], np.shape(test_correct)[1]
    infl = np.empty((n, n_test), np.float32)
    se = np.empty((n, n_test), np.float32)
    for block in influence_blocks(mask, test_correct, block_size=block_size):
        infl[block.train_index] = block.infl
        se[block.train_index] = block.infl_se
    return infl, se


def class_layout(train_labels: np.ndarray, test_labels: np.ndarray) -> ClassLayout:
    """Group examples by label; the pair (i, j) is same-class iff y_i = y'_j (Section 2)."""
    train_labels = np.asarray(train_labels)
    test_labels = np.asarray(test_labels)
    classes = np.union1d(train_labels, test_labels)
    train_order = np.argsort(train_labels, kind="stable")
    test_order = np.argsort(test_labels, kind="stable")
    return ClassLayout(
        classes=classes, train_order=train_order, test_order=test_order,
        train_bounds=np.append(np.searchsorted(train_labels[train_order], classes, side="left"),
                               len(train_labels)),
        test_bounds=np.append(np.searchsorted(test_labels[test_order], classes, side="left"),
                              len(test_labels)))


def same_class_counts(mask: np.ndarray, test_correct: np.ndarray, layout: ClassLayout,
                      acc: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """``hits_in`` of Alg. 1 line 7 for same-class pairs only: ``M_c^T C_c`` per class c.

    Returns one (n_c, n'_c) float32 array per class of ``layout``; given ``acc`` (the result for
    earlier trial blocks) the counts of these trials are added into it in place and it is
    returned. Memory is sum_c n_c n'_c floats instead of n n_test.
    """
    mask = np.asarray(mask, dtype=bool)
    test_correct = np.asarray(test_correct, dtype=bool)
    m_sorted = np.take(mask, layout.train_order, axis=1)
    c_sorted = np.take(test_correct, layout.test_order, axis=1)
    tb, qb = layout.train_bounds, layout.test_bounds
    if acc is None:
        acc = [np.zeros((tb[c + 1] - tb[c], qb[c + 1] - qb[c]), np.float32)
               for c in range(len(layout.classes))]
    for c, out in enumerate(acc):
        if out.size:
            m_c = m_sorted[:, tb[c]:tb[c + 1]].astype(np.float32)
            c_c = c_sorted[:, qb[c]:qb[c + 1]].astype(np.float32)
            out += m_c.T @ c_c
    return acc


def same_class_from_counts(layout: ClassLayout, hits_in: list[np.ndarray], n_in: np.ndarray,
                           test_hits: np.ndarray, n: int) -> list[InfluenceBlock]:
    """Alg. 1 line 7 for same-class pairs from accumulated counts: one block per class.

    ``n_in`` (n,) counts trials containing each training example, ``test_hits`` (n_test,)
    trials correct on each test example, ``n`` the number of trials.
    """
    blocks = []
    for c, h in enumerate(hits_in):
        train_index, test_index = layout.train_index(c), layout.test_index(c)
        infl, se = proportion_difference(h, np.asarray(n_in, np.float32)[train_index, None],
                                         np.asarray(test_hits, np.float32)[None, test_index], n)
        blocks.append(InfluenceBlock(train_index, test_index, infl, se))
    return blocks


def same_class_influence(mask: np.ndarray, test_correct: np.ndarray, train_labels: np.ndarray,
                         test_labels: np.ndarray) -> list[InfluenceBlock]:
    """Alg. 1 line 7 restricted to pairs with y_i = y'_j, one :class:`InfluenceBlock` per class
    (classes with no training or no test example give empty blocks)."""
    layout = class_layout(train_labels, test_labels)
    hits_in = same_class_counts(mask, test_correct, layout)
    return same_class_from_counts(layout, hits_in, _count_true(np.asarray(mask, bool)),
                                  _count_true(np.asarray(test_correct, bool)), len(mask))


# ---------------------------------------------------------------- held-out predictions

def held_out_votes(mask: np.ndarray, prediction: np.ndarray, num_classes: int) -> np.ndarray:
    """(n, num_classes) int64: for each training example i, how many valid trials with
    i not in I_k predicted each class for x_i. Sums over trials, so blocks of trials add up.
    Predictions outside 0..num_classes-1 (e.g. -1 of a diverged trial) are not counted."""
    mask = np.asarray(mask, dtype=bool)
    prediction = np.asarray(prediction)
    if mask.shape != prediction.shape or mask.ndim != 2:
        raise ValueError(f"mask {mask.shape} and train_prediction {prediction.shape} must be "
                         f"the same (t, n) shape")
    n = mask.shape[1]
    held_out = ~mask & (prediction >= 0) & (prediction < num_classes)
    example = np.broadcast_to(np.arange(n), mask.shape)[held_out]
    flat = example * num_classes + prediction[held_out].astype(np.int64)
    return np.bincount(flat, minlength=n * num_classes).reshape(n, num_classes)


def suggested_labels(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label, share): the class held-out models predict most often for each example (ties
    to the smaller class) and the share of its held-out trials that predict it; -1 and NaN
    for an example never held out. ``1 - p_out`` is the share that disagree with y_i."""
    votes = np.asarray(votes)
    total = votes.sum(axis=1)
    label = votes.argmax(axis=1).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = votes[np.arange(len(votes)), label] / total
    label[total == 0] = -1
    return label, share.astype(np.float64)
# ---------------------------------------------------------------- exact thresholds
#
# "mem~ >= theta" and "infl~ >= theta" (Section 2) are decided from integer counts, never from
# the rounded floats: p_in - p_out >= theta  <=>  hits_in n_out - hits_out n_in >= theta n_in n_out
# with theta the exact decimal the config wrote (0.15 = 3/20). The counts are recovered from the
# stored estimates, which are exact functions of them: mem (float64) times n_in n_out is an
# integer, and for influence hits_in = (infl n_out + hits) n_in / t (float32 infl, whose error
# ~3e-7 times t/4 stays far below 1/2 for any t below 10^6).


def exact_threshold(theta: float) -> Fraction:
    """``theta`` as the exact decimal it was written as (0.15 -> 3/20, not the binary float)."""
    theta = float(theta)
    if not np.isfinite(theta):
        raise ValueError(f"threshold {theta} is not a finite number")
    return Fraction(repr(theta))


def ratio_at_least(numerator: np.ndarray, denominator: np.ndarray, theta: float
                   ) -> np.ndarray:
    """``numerator / denominator >= theta`` in integer arithmetic (False where the denominator
    is 0: no estimate). With Alg. 1's ``numerator = hits_in n_out - hits_out n_in`` and
    ``denominator = n_in n_out`` the ratio is p_in - p_out (lines 5/7). Arguments broadcast."""
    frac = exact_threshold(theta)
    numerator = np.asarray(numerator, np.int64)
    denominator = np.asarray(denominator, np.int64)
    largest = max(int(np.abs(numerator).max(initial=0)), int(denominator.max(initial=0)))
    if largest * max(frac.numerator, frac.denominator) >= 2**62:  # exact in Python integers
        numerator, denominator = numerator.astype(object), denominator.astype(object)
    at_least = numerator * frac.denominator >= denominator * frac.numerator
    return (np.asarray(denominator) > 0) & np.asarray(at_least, bool)


def _recover(value: np.ndarray, what: str) -> np.ndarray:
    """Round ``value`` to the integer count it must be; refuse if it is not near one."""
    count = np.rint(value)
    off = np.abs(value - count)
    if np.any(off > RECOVERY_TOLERANCE):
        raise ValueError(f"{what} is not a function of integer trial counts (off by up to "
                         f"{float(np.nanmax(off)):.3g}); were the estimates written by this "
                         f"version from these trials?")
    return count.astype(np.int64)


def mem_fraction(mem: np.ndarray, n_in: np.ndarray, n_out: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """mem~ (Alg. 1 line 5) as the exact fraction ``numerator / (n_in n_out)``, its integer
    numerator ``hits_in n_out - hits_out n_in`` recovered from float64 ``mem``; (0, 0) where
    there is no estimate."""
    mem = np.asarray(mem, np.float64)
    n_in, n_out = np.asarray(n_in, np.int64), np.asarray(n_out, np.int64)
    defined = np.isfinite(mem) & (n_in > 0) & (n_out > 0)
    numerator = _recover(np.where(defined, mem * n_in * n_out, 0.0), "mem")
    return numerator, np.where(defined, n_in * n_out, 0)


def infl_fraction(infl: np.ndarray, n_in: np.ndarray, n_out: np.ndarray,
                  test_hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """infl~ (Alg. 1 line 7) as the exact fraction ``numerator / (n_in n_out)``.

    ``infl`` (a, b) as stored (float32), ``n_in``/``n_out`` (a, 1) valid trials with/without
    each training example, ``test_hits`` (1, b) trials correct on each test example. The pair's
    ``hits_in = (infl n_out + hits) n_in / t`` is recovered exactly, then ``numerator =
    hits_in t - hits n_in``; (0, 0) where there is no estimate.
    """
    infl = np.asarray(infl, np.float64)
    n_in, n_out = np.asarray(n_in, np.int64), np.asarray(n_out, np.int64)
    hits = np.asarray(test_hits, np.int64)
    t = n_in + n_out
    defined = np.isfinite(infl) & (n_in > 0) & (n_out > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = np.where(defined, (infl * n_out + hits) * n_in / np.maximum(t, 1), 0.0)
    hits_in = _recover(estimate, "infl")
    numerator = np.where(defined, hits_in * t - hits * n_in, 0)
    return numerator, np.where(defined, n_in * n_out, 0)


def mem_at_least(mem: np.ndarray, n_in: np.ndarray, n_out: np.ndarray,
                 theta: float) -> np.ndarray:
    """(n,) bool: mem~_i >= theta (Section 2), decided exactly; never for NaN estimates. E.g.
    7/20 - 2/20 counts as 0.25 although its float is 0.2499999..."""
    return ratio_at_least(*mem_fraction(mem, n_in, n_out), theta)


def infl_at_least(infl: np.ndarray, n_in: np.ndarray, n_out: np.ndarray,
                  test_hits: np.ndarray, theta: float) -> np.ndarray:
    """infl~_ij >= theta (Section 2), decided exactly (see :func:`infl_fraction`); never for
    NaN estimates."""
    return ratio_at_least(*infl_fraction(infl, n_in, n_out, test_hits), theta)
