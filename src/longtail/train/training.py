"""Algorithm 1, lines 1-3: sample subsets I_k of size m and train h_k on S_{I_k}.

Every trial k derives its subset, initial weights and minibatch order from its seed,
``longtail.config.study.trial_seed(seed, k)``, alone, so results do not depend on how trials are
split into jobs. A shard's models train either as separate models in lockstep groups (``loop``; on
CUDA each on its own stream) or together as one hand-batched ensemble (``batched``: stacked
weights and ``torch.baddbmm``, the maths in :mod:`longtail.train.batched`; each model has its own
subset and its own minibatches). Both run the same recipe; ``auto`` picks per architecture and
device from the measurements in
``benchmarks/train_throughput.py`` (README table).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from longtail.config.errors import ConfigError
from longtail.errors import LongtailError
from longtail.store.correctness import TrialResults
from longtail.train import batched
from longtail.train.models import BATCHABLE, build_model, is_batchable
from longtail.train.recipe import (
    Normalizer,
    Recipe,
    TrainingData,
    augment_crop_flip,
    epoch_order,
    lr_factor,
    minibatch_generator,
    minibatches,
    native_bf16,
    steps_per_epoch,
    use_augment,
    uses_bf16,
)


class TrainingError(LongtailError, RuntimeError):
    """Training cannot run here as configured (e.g. ``train.device = cuda`` without a CUDA
    device); a ``RuntimeError`` too, as before."""


# ---------------------------------------------------------------- subsets (line 1)

def subset_mask(n: int, m: int, seed: int) -> np.ndarray:
    """Boolean (n,) mask of a uniformly random subset I_k of [n] of size m (Alg. 1, line 1)."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, size=m, replace=False)] = True
    return mask


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("train.device = cuda, but no CUDA device is available")
    return torch.device(name)


def configure_backend(recipe: Recipe, device: torch.device) -> None:
    """Per-device settings: CPU threads; on CUDA, TF32 matmuls (fp32 recipes) and cuDNN
    autotuning for the fixed input shapes of a study."""
    if device.type == "cpu":
        torch.set_num_threads(recipe.threads)
        return
    if recipe.precision in ("auto", "bf16"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


def resolve_method(recipe: Recipe, arch: str, device: torch.device) -> str:
    """``auto``: batched ensembles for the small fully-connected models (measured faster on CPU
    and far faster on GPU, see README), one at a time for conv nets (a vmapped/batched small CNN
    measured slower than its loop on CPU)."""
    if recipe.method == "batched" and not is_batchable(arch):
        raise ConfigError(f"train.method = batched is not available for arch '{arch}' "
                         f"(batchable: {', '.join(sorted(BATCHABLE))})")
    if recipe.method != "auto":
        return recipe.method
    return "batched" if is_batchable(arch) else "loop"


# ---------------------------------------------------------------- training (lines 2-3)

def train_trials(data: TrainingData, arch: str, recipe: Recipe, seeds: Sequence[int],
                 masks: np.ndarray, trial_ids: Sequence[int] | None = None,
                 progress: bool = True) -> TrialResults:
    """Train one model per (seed, mask) and record its correctness on all train/test examples.

    Models are grouped by ``recipe.ensemble_size`` in trial order; with ``trials_per_job`` a
    multiple of it, groups (and so every number) are the same however trials are sharded.
    """
    device = resolve_device(recipe.device)
    method = resolve_method(recipe, arch, device)
    if recipe.precision == "bf16" and not native_bf16(device):
        warnings.warn(f"train.precision = bf16 on a {device.type} without native bfloat16: "
                      f"emulated bf16 GEMMs run ~30x slower than float32; precision: auto "
                      f"picks float32 here", stacklevel=2)
    configure_backend(recipe, device)
    trial_ids = list(range(len(seeds))) if trial_ids is None else list(trial_ids)
    data = data.to(device)
    group_size = recipe.ensemble_size
    steps = recipe.epochs * steps_per_epoch(int(masks[0].sum()), recipe.batch_size)
    bar = tqdm(total=steps * len(seeds), desc=f"train {arch} ({method}, {device.type})",
               unit="model-step", disable=not progress, mininterval=5)
    parts = []
    for start in range(0, len(seeds), group_size):
        group = slice(start, start + group_size)
        began = time.perf_counter()
        train_group = batched.train_batched if method == "batched" else _train_loop
        train_prediction, test_prediction, diverged = train_group(
            data, arch, recipe, list(seeds[group]), masks[group], device, bar)
        elapsed = (time.perf_counter() - began) / len(seeds[group])
        train_prediction[diverged] = -1
        test_correct = (test_prediction == data.y_test.cpu().numpy()) & ~diverged[:, None]
        parts.append(TrialResults(
            trial=trial_ids[group], trial_seed=seeds[group], mask=masks[group],
            train_correct=train_prediction == data.y_train.cpu().numpy(),
            test_correct=test_correct, test_accuracy=test_correct.mean(axis=1),
            wall_time=np.full(len(diverged), elapsed), diverged=diverged,
            train_prediction=train_prediction))
    bar.close()
    return TrialResults.concatenate(parts)


class SingleModelRun:
    """One model of the loop path: its own weights, optimizer, subset and minibatch stream."""

    def __init__(self, data: TrainingData, arch: str, recipe: Recipe, seed: int,
                 mask: np.ndarray, device: torch.device, normalize: Normalizer) -> None:
        self.data, self.recipe, self.normalize = data, recipe, normalize
        self.augment = use_augment(recipe, data.shape)
        self.bf16 = uses_bf16(recipe, device)
        self.memory_format = (torch.channels_last if recipe.channels_last
                              and device.type == "cuda" else torch.contiguous_format)
        self.model = build_model(arch, data.shape, data.num_classes, seed).to(
            device, memory_format=self.memory_format)
        self.forward = torch.compile(self.model) if recipe.compile else self.model
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
            nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)
        self.generator = minibatch_generator(seed, device)
        self.subset = torch.from_numpy(np.flatnonzero(mask)).to(device)
        self.total = recipe.epochs * steps_per_epoch(len(self.subset), recipe.batch_size)
        self.diverged = torch.zeros((), dtype=torch.bool, device=device)

    def batches(self) -> Iterator[torch.Tensor]:
        for _ in range(self.recipe.epochs):
            yield from minibatches(epoch_order(self.subset, self.generator),
                                   self.recipe.batch_size)

    def step(self, step: int, batch: torch.Tensor) -> None:
        recipe = self.recipe
        x = self.normalize(self.data.x_train[batch])
        if self.augment:
            x = augment_crop_flip(x, self.generator)
        for group in self.optimizer.param_groups:
            group["lr"] = recipe.lr * lr_factor(recipe.schedule, step, self.total,
                                                recipe.warmup_fraction)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.forward(x.contiguous(memory_format=self.memory_format))
        loss = F.cross_entropy(logits.float(), self.data.y_train[batch],
                               label_smoothing=recipe.label_smoothing)
        self.diverged |= ~torch.isfinite(loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def finish(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """(train predictions, test predictions, diverged) of the trained model."""
        self.model.eval()
        args = (self.normalize, self.bf16, self.memory_format)
        train_pred = _predict(self.forward, self.data.x_train, *args)
        test_pred = _predict(self.forward, self.data.x_test, *args)
        return train_pred, test_pred, bool(self.diverged) or not _finite(self.model)


def _train_loop(data: TrainingData, arch: str, recipe: Recipe, seeds: list[int],
                masks: np.ndarray, device: torch.device, bar: tqdm
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A group of separate models trained in lockstep, step k of every model before step k+1.

    On CUDA each model issues its kernels on its own stream, so small models overlap on one
    GPU; on the CPU this is the plain one-model-at-a-time loop (the numbers are the same:
    every model has its own weights, optimizer and random stream).
    """
    normalize = Normalizer(data.x_train)
    runs = [SingleModelRun(data, arch, recipe, seed, mask, device, normalize)
            for seed, mask in zip(seeds, masks, strict=True)]
    streams = [torch.cuda.Stream(device) if device.type == "cuda" and len(runs) > 1 else None
               for _ in runs]
    for run in runs:
        run.model.train()
    for step, batches in enumerate(zip(*(run.batches() for run in runs), strict=True)):
        for run, stream, batch in zip(runs, streams, batches, strict=True):
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                run.step(step, batch)
        bar.update(len(runs))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_c, test_c, div = zip(*(run.finish() for run in runs), strict=True)
    return np.stack(train_c), np.stack(test_c), np.array(div)


def _finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, normalize: Normalizer, bf16: bool,
             memory_format: torch.memory_format, chunk: int = 2048) -> np.ndarray:
    """(N,) int16: the class the model predicts for each example."""
    out = []
    for xs in x.split(chunk):
        with torch.autocast(xs.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(normalize(xs).contiguous(memory_format=memory_format))
        out.append(logits.float().argmax(1))
    return torch.cat(out).to(torch.int16).cpu().numpy()
