import math

import numpy as np
import pytest
import torch
from conftest import blobs

from longtail.config.study import trial_seed
from longtail.train.models import ARCHITECTURES, build_model
from longtail.train.recipe import (
    Recipe,
    augment_crop_flip,
    lr_factor,
    minibatches,
    native_bf16,
    resolved_precision,
    steps_per_epoch,
    uses_bf16,
)
from longtail.train.training import resolve_method, subset_mask, train_trials


def test_trial_seeds_depend_only_on_study_seed_and_trial():
    assert trial_seed(0, 5) == trial_seed(0, 5)
    seeds = {trial_seed(s, k) for s in range(3) for k in range(100)}
    assert len(seeds) == 300
    assert all(0 <= s < 2**63 for s in seeds)


def test_subset_mask_has_size_m_and_is_reproducible():
    a = subset_mask(100, 70, trial_seed(0, 3))
    b = subset_mask(100, 70, trial_seed(0, 3))
    assert a.dtype == bool and a.sum() == 70
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, subset_mask(100, 70, trial_seed(0, 4)))


def test_subset_masks_are_uniform_over_examples():
    masks = np.stack([subset_mask(20, 14, trial_seed(1, k)) for k in range(4000)])
    inclusion = masks.mean(axis=0)
    # Each example is in I_k with probability m/n = 0.7; SE = sqrt(.21/4000) ~ 0.0072.
    assert np.abs(inclusion - 0.7).max() < 0.035


@pytest.mark.parametrize("schedule", ["constant", "step", "onecycle"])
def test_lr_schedules(schedule):
    total = 100
    factors = [lr_factor(schedule, s, total, 0.2) for s in range(total)]
    assert all(0 <= f <= 1 + 1e-12 for f in factors)
    if schedule == "constant":
        assert set(factors) == {1.0}
    elif schedule == "step":
        assert factors[0] == 1.0 and math.isclose(factors[60], 0.1)
        assert math.isclose(factors[80], 0.01)
    else:
        assert factors[0] < factors[10] < factors[19] <= 1.0
        assert math.isclose(max(factors), 1.0) and factors[-1] < 0.02


@pytest.mark.parametrize(("m", "batch", "sizes"), [
    (7000, 512, [512] * 13 + [344]),     # the default study's subsets: a plain split
    (7748, 512, [512] * 15 + [68]),      # a remainder of 68 >= 512 / 8 stays a batch
    (9217, 512, [512] * 17 + [513]),     # one example left: it joins the last full batch
    (1024, 512, [512, 512]),
    (100, 512, [100]),                   # fewer than a batch: one step
    (210, 64, [64, 64, 64, 18])])
def test_minibatches_fold_a_tiny_remainder_into_the_last_batch(m, batch, sizes):
    order = torch.randperm(m, generator=torch.Generator().manual_seed(0))
    batches = minibatches(order, batch)
    assert [len(b) for b in batches] == sizes == [len(b) for b in order.split(batch)][
        :len(sizes) - 1] + [sizes[-1]]
    assert steps_per_epoch(m, batch) == len(sizes)
    assert torch.equal(torch.cat(batches), order)
    # the ensemble's (K, m) orders are cut the same way along dim 1
    stacked = torch.stack([order, order.flip(0)])
    assert [b.shape for b in minibatches(stacked, batch, dim=1)] == [(2, n) for n in sizes]


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        lr_factor("cosine", 0, 10, 0.1)


def test_augmentation_crops_and_flips_within_bounds():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    gen = torch.Generator().manual_seed(0)
    out = augment_crop_flip(x, gen, pad=2)
    assert out.shape == x.shape
    # Every output pixel is either a zero pad or a pixel of the same image and channel.
    for b in range(2):
        for c in range(3):
            values = set(out[b, c].flatten().tolist()) - {0.0}
            assert values <= set(x[b, c].flatten().tolist())
    no_op = augment_crop_flip(x, torch.Generator().manual_seed(0), pad=0)
    flipped = torch.flip(x, dims=[3])
    for b in range(2):
        assert torch.equal(no_op[b], x[b]) or torch.equal(no_op[b], flipped[b])


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_models_map_images_to_logits(arch, shape):
    model = build_model(arch, shape, 7, seed=0).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, *shape)).shape == (2, 7)
        assert model.head.in_features == model.body(torch.zeros(2, *shape)).shape[1]


def test_build_model_is_deterministic_and_rejects_unknown_arch():
    a = build_model("mlp", (1, 6, 6), 4, seed=1)
    b = build_model("mlp", (1, 6, 6), 4, seed=1)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="unknown arch 'vgg'"):
        build_model("vgg", (1, 6, 6), 4, seed=1)


def test_batched_is_refused_for_conv_nets():
    with pytest.raises(ValueError, match="batched"):
        resolve_method(Recipe.with_defaults(method="batched"), "cnn", torch.device("cpu"))
    assert resolve_method(Recipe.with_defaults(), "mlp", torch.device("cpu")) == "batched"
    assert resolve_method(Recipe.with_defaults(), "cnn", torch.device("cpu")) == "loop"


def _plan(n: int, trials: range, m: int):
    seeds = [trial_seed(0, k) for k in trials]
    return seeds, np.stack([subset_mask(n, m, s) for s in seeds])


RECIPE = Recipe.with_defaults(epochs=6, batch_size=16, lr=0.05, weight_decay=0.0, ensemble_size=4,
                              threads=1)


def test_trials_do_not_depend_on_how_they_are_sharded():
    data = blobs(80, 40)
    seeds, masks = _plan(80, range(8), 56)
    whole = train_trials(data, "mlp", RECIPE, seeds, masks, trial_ids=range(8), progress=False)
    halves = [train_trials(data, "mlp", RECIPE, seeds[s], masks[s], trial_ids=range(8)[s],
                           progress=False) for s in (slice(0, 4), slice(4, 8))]
    for name in ("trial", "trial_seed", "mask", "train_correct", "test_correct"):
        joined = np.concatenate([getattr(h, name) for h in halves])
        np.testing.assert_array_equal(getattr(whole, name), joined)


def test_batched_and_loop_train_the_same_recipe():
    """Same init, same minibatches: the two methods agree statistically (and nearly exactly)."""
    data = blobs(160, 200, seed=3)
    seeds, masks = _plan(160, range(8), 112)
    batched = train_trials(data, "mlp", RECIPE, seeds, masks, progress=False)
    loop = train_trials(data, "mlp", Recipe(**{**RECIPE.__dict__, "method": "loop"}),
                        seeds, masks, progress=False)
    assert not batched.diverged.any() and not loop.diverged.any()
    diff = batched.test_accuracy - loop.test_accuracy
    se = max(diff.std(ddof=1) / math.sqrt(len(diff)), 1e-3)
    assert abs(diff.mean()) < 3 * se + 0.01
    assert (batched.test_correct == loop.test_correct).mean() > 0.95
    assert batched.test_accuracy.mean() > 0.6  # the task is learnable


def test_training_fits_its_subset_better_than_held_out_examples():
    data = blobs(160, 60, seed=5)
    noisy = torch.rand(160, generator=torch.Generator().manual_seed(0)) < 0.3
    data.y_train[noisy] = (data.y_train[noisy] + 1) % 4  # only memorization fits these
    seeds, masks = _plan(160, range(4), 112)
    res = train_trials(data, "mlp", Recipe.with_defaults(epochs=30, batch_size=16, lr=0.05,
                                                         weight_decay=0.0, ensemble_size=4,
                                                         threads=1),
                       seeds, masks, progress=False)
    noisy = noisy.numpy()[None, :]
    in_acc = res.train_correct[res.mask & noisy].mean()
    out_acc = res.train_correct[~res.mask & noisy].mean()
    assert in_acc > out_acc + 0.3


def test_divergence_is_marked_not_counted():
    data = blobs(64, 32)
    seeds, masks = _plan(64, range(4), 44)
    absurd = Recipe.with_defaults(epochs=3, batch_size=16, lr=1e12, momentum=0.9, ensemble_size=4,
                                  threads=1, schedule="constant")
    for method in ("batched", "loop"):
        res = train_trials(data, "mlp", Recipe(**{**absurd.__dict__, "method": method}),
                           seeds, masks, progress=False)
        assert res.diverged.all(), method
        assert not res.train_correct.any() and not res.test_correct.any()
        assert (res.train_prediction == -1).all()


@pytest.mark.parametrize(("method", "precision"), [("batched", "fp32"), ("batched", "bf16"),
                                                   ("loop", "fp32")])
def test_trials_record_predictions_and_their_fit(method, precision):
    """train_prediction is the class each model predicts; train_correct is its agreement with
    y_i and subset_accuracy the fit on the model's own subset."""
    data = blobs(96, 32, seed=7)
    seeds, masks = _plan(96, range(4), 67)
    res = train_trials(data, "mlp", Recipe(**{**RECIPE.__dict__, "method": method,
                                              "precision": precision}),
                       seeds, masks, progress=False)
    assert res.train_prediction.shape == (4, 96) and res.train_prediction.dtype == np.int16
    np.testing.assert_array_equal(res.train_correct,
                                  res.train_prediction == data.y_train.numpy()[None])
    np.testing.assert_allclose(res.subset_accuracy,
                               (res.train_correct & res.mask).sum(1) / res.mask.sum(1))
    assert res.subset_accuracy.mean() > 0.8  # the task is learnable in either precision


def test_conv_net_loop_path_with_augmentation_and_bf16_runs_on_cpu():
    """The CUDA path's code (augmentation, bf16 autocast) exercised on tiny CPU inputs."""
    data = blobs(32, 16, side=8, channels=3)
    seeds, masks = _plan(32, range(2), 22)
    recipe = Recipe.with_defaults(epochs=1, batch_size=8, augment=True, precision="bf16", threads=1)
    res = train_trials(data, "cnn", recipe, seeds, masks, progress=False)
    assert res.train_correct.shape == (2, 32) and res.test_correct.shape == (2, 16)
    assert not res.diverged.any()


def test_lockstep_groups_of_separate_models_equal_one_at_a_time():
    """The loop path's lockstep groups (CUDA streams on a GPU) change no number."""
    data = blobs(48, 24, side=8, channels=3)
    seeds, masks = _plan(48, range(3), 34)
    recipe = Recipe.with_defaults(epochs=2, batch_size=8, method="loop", augment=True, threads=1)
    grouped = train_trials(data, "cnn", Recipe(**{**recipe.__dict__, "ensemble_size": 3}),
                           seeds, masks, progress=False)
    single = train_trials(data, "cnn", Recipe(**{**recipe.__dict__, "ensemble_size": 1}),
                          seeds, masks, progress=False)
    np.testing.assert_array_equal(grouped.train_correct, single.train_correct)
    np.testing.assert_array_equal(grouped.test_correct, single.test_correct)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trials_are_bit_identical_with_one_or_two_threads(precision):
    """Reproducibility (README): on one machine and library version, the number of threads
    does not change a trial's predictions (nor, see above, does the sharding)."""
    data = blobs(240, 60, seed=3, side=10)
    seeds, masks = _plan(240, range(8), 168)
    runs = [train_trials(data, "mlp-64-32", Recipe(**{**RECIPE.__dict__, "ensemble_size": 8,
                                                      "precision": precision,
                                                      "threads": threads}),
                         seeds, masks, progress=False) for threads in (1, 2)]
    np.testing.assert_array_equal(runs[0].train_prediction, runs[1].train_prediction)
    np.testing.assert_array_equal(runs[0].test_correct, runs[1].test_correct)


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_the_hardware_has_it(monkeypatch, native):
    """``auto`` trains in bf16 on a CPU with AMX/AVX512-BF16 and in float32 on one that would
    emulate it; explicit precisions are kept as written."""
    monkeypatch.setattr("longtail.train.recipe._cpu_has_bf16", lambda: native)
    cpu = torch.device("cpu")
    assert uses_bf16(Recipe.with_defaults(precision="auto"), cpu) is native
    assert resolved_precision(Recipe.with_defaults(precision="auto"), cpu) == (
        "bf16" if native else "fp32")
    assert uses_bf16(Recipe.with_defaults(precision="bf16"), cpu)
    assert not uses_bf16(Recipe.with_defaults(precision="fp32"), cpu)


def test_cpu_bf16_detection_reads_the_cpu_flags():
    flags = open("/proc/cpuinfo").read().split()
    assert native_bf16(torch.device("cpu")) == bool({"amx_bf16", "avx512_bf16"} & set(flags))
