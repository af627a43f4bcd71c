"""Algorithm 1, lines 1-3: sample subsets I_k of size m and train h_k on S_{I_k}.

Every trial k derives its subset, initial weights and minibatch order from its seed,
``longtail.study.trial_seed(seed, k)``, alone, so results do not depend on how trials are split
into jobs. A shard's models train either as separate models in lockstep groups (``loop``; on
CUDA each on its own stream) or together as one hand-batched ensemble (``batched``: stacked
weights and ``torch.baddbmm``, the maths in :mod:`longtail.batched`; each model has its own
subset and its own minibatches). Both run the same recipe; ``auto`` picks per architecture and
device from the measurements in
``benchmarks/train_throughput.py`` (README table).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from longtail import batched
from longtail.models import BATCHABLE, build_model, is_batchable
from longtail.store import TrialResults
from longtail.study import with_defaults


@dataclass(frozen=True)
class Recipe:
    """Training hyperparameters (config ``studies.<name>.train``); their defaults are the
    schema's (``schemas/config.schema.yaml``), filled in before a Recipe is built."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    schedule: str
    warmup_fraction: float
    label_smoothing: float
    augment: bool | None
    method: str
    ensemble_size: int
    device: str
    precision: str
    channels_last: bool
    compile: bool
    threads: int

    @classmethod
    def from_config(cls, train: Mapping[str, Any]) -> Recipe:
        """From a schema-validated ``train`` mapping (every key given)."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(train) - set(known))
        if unknown:
            raise ValueError(f"unknown train keys {unknown}; known: {sorted(known)}")
        missing = [name for name in known if name not in train]
        if missing:
            raise ValueError(f"train keys {missing} missing: build a Recipe from a validated "
                             f"config, or with Recipe.with_defaults")
        return cls(**train)

    @classmethod
    def with_defaults(cls, **train: Any) -> Recipe:
        """The schema's recipe with ``train``'s values (for tests, benchmarks and API users)."""
        return cls.from_config(with_defaults(train, "train"))


@dataclass
class TrainingData:
    """A study's images as uint8 NCHW tensors plus labels; normalisation stats of the train set."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @classmethod
    def from_arrays(cls, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                    y_test: np.ndarray, num_classes: int) -> TrainingData:
        """From NHWC uint8 (images) or (N, D) float (representations) arrays."""
        def to_tensor(x: np.ndarray) -> torch.Tensor:
            x = torch.from_numpy(np.array(x, copy=True))
            return x.permute(0, 3, 1, 2).contiguous() if x.ndim == 4 else x[:, :, None, None]
        return cls(to_tensor(x_train), torch.from_numpy(np.asarray(y_train, dtype=np.int64)),
                   to_tensor(x_test), torch.from_numpy(np.asarray(y_test, dtype=np.int64)),
                   num_classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device) -> TrainingData:
        return TrainingData(self.x_train.to(device), self.y_train.to(device),
                            self.x_test.to(device), self.y_test.to(device), self.num_classes)


# ---------------------------------------------------------------- subsets (line 1)

def subset_mask(n: int, m: int, seed: int) -> np.ndarray:
    """Boolean (n,) mask of a uniformly random subset I_k of [n] of size m (Alg. 1, line 1)."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, size=m, replace=False)] = True
    return mask


# ---------------------------------------------------------------- recipe pieces

def lr_factor(schedule: str, step: int, total: int, warmup_fraction: float) -> float:
    """Learning-rate multiplier at ``step`` of ``total``: constant, step, or one-cycle."""
    progress = step / max(total, 1)
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
    if schedule == "onecycle":
        if progress < warmup_fraction:
            return (step + 1) / max(warmup_fraction * total, 1)
        return max(0.0, (1 - progress) / max(1 - warmup_fraction, 1e-12))
    raise ValueError(f"unknown schedule '{schedule}'")


def augment_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """CIFAR augmentation on a (B, C, H, W) batch: random crop after zero padding, h-flip."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b, 1, 1), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b, 1, 1), generator=generator, device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy).expand(b, h, w)
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx).expand(b, h, w)
    flip = torch.rand(b, generator=generator, device=x.device) < 0.5
    cols = torch.where(flip[:, None, None], dx + (w - 1) - (cols - dx), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


class Normalizer:
    """uint8 images -> float32, standardised per channel with the training set's statistics."""

    def __init__(self, x_train: torch.Tensor) -> None:
        x = x_train.float()
        if x_train.dtype == torch.uint8:
            x = x / 255.0
        dims = (0, 2, 3)
        self.scale = 255.0 if x_train.dtype == torch.uint8 else 1.0
        self.mean = x.mean(dim=dims, keepdim=True)
        self.std = x.std(dim=dims, keepdim=True).clamp_min(1e-6)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / self.scale - self.mean) / self.std


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device = cuda, but no CUDA device is available")
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
        raise ValueError(f"train.method = batched is not available for arch '{arch}' "
                         f"(batchable: {', '.join(sorted(BATCHABLE))})")
    if recipe.method != "auto":
        return recipe.method
    return "batched" if is_batchable(arch) else "loop"


def _use_augment(recipe: Recipe, shape: tuple[int, int, int]) -> bool:
    return recipe.augment if recipe.augment is not None else (shape[0] == 3 and shape[1] == 32)


def _epoch_order(subset: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return subset[torch.randperm(len(subset), generator=generator)]


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
    configure_backend(recipe, device)
    trial_ids = list(range(len(seeds))) if trial_ids is None else list(trial_ids)
    data = data.to(device)
    group_size = recipe.ensemble_size
    steps = recipe.epochs * math.ceil(int(masks[0].sum()) / recipe.batch_size)
    bar = tqdm(total=steps * len(seeds), desc=f"train {arch} ({method}, {device.type})",
               unit="model-step", disable=not progress, mininterval=5)
    parts = []
    for start in range(0, len(seeds), group_size):
        group = slice(start, start + group_size)
        began = time.perf_counter()
        train_group = _train_batched if method == "batched" else _train_loop
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


def _minibatch_generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed((seed + 1) % 2**63)


class SingleModelRun:
    """One model of the loop path: its own weights, optimizer, subset and minibatch stream."""

    def __init__(self, data: TrainingData, arch: str, recipe: Recipe, seed: int,
                 mask: np.ndarray, device: torch.device, normalize: Normalizer) -> None:
        self.data, self.recipe, self.normalize = data, recipe, normalize
        self.augment = _use_augment(recipe, data.shape)
        self.bf16 = uses_bf16(recipe, device)
        self.memory_format = (torch.channels_last if recipe.channels_last
                              and device.type == "cuda" else torch.contiguous_format)
        self.model = build_model(arch, data.shape, data.num_classes, seed).to(
            device, memory_format=self.memory_format)
        self.forward = torch.compile(self.model) if recipe.compile else self.model
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
            nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)
        self.generator = _minibatch_generator(seed, device)
        self.subset = torch.from_numpy(np.flatnonzero(mask)).to(device)
        self.total = recipe.epochs * math.ceil(len(self.subset) / recipe.batch_size)
        self.diverged = torch.zeros((), dtype=torch.bool, device=device)

    def batches(self) -> Iterator[torch.Tensor]:
        for _ in range(self.recipe.epochs):
            yield from _epoch_order(self.subset, self.generator).split(self.recipe.batch_size)

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


def uses_bf16(recipe: Recipe, device: torch.device) -> bool:
    """bfloat16 matmuls with float32 weights, optimizer state and loss (mixed precision), for
    both methods: ``precision: bf16`` anywhere, ``auto`` on CUDA. On a CPU with AMX or
    AVX512-BF16 the batched MLP's GEMMs run ~4x faster than in float32
    (benchmarks/train_throughput.py)."""
    return recipe.precision == "bf16" or (recipe.precision == "auto" and device.type == "cuda")


@torch.no_grad()
def _train_batched(data: TrainingData, arch: str, recipe: Recipe, seeds: list[int],
                   masks: np.ndarray, device: torch.device, bar: tqdm
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K models of a fully-connected arch trained together; model k sees only S_{I_k}. The
    recipe's loop of :func:`_train_loop`, with the forward, backward and SGD step of
    :mod:`longtail.batched` in place of autograd and ``torch.optim.SGD``."""
    k = len(seeds)
    normalize = Normalizer(data.x_train)
    augment = _use_augment(recipe, data.shape)
    bf16 = uses_bf16(recipe, device)
    dtype = torch.bfloat16 if bf16 else torch.float32
    x_train = normalize(data.x_train).to(dtype)
    params = batched.stack_linears(arch, data.shape, data.num_classes, seeds, device)
    buffers = [torch.empty_like(p) for p in params]
    grads = [torch.empty_like(p) for p in params]
    compute = [torch.empty_like(p, dtype=dtype) for p in params] if bf16 else params
    generators = [_minibatch_generator(seed, device) for seed in seeds]
    subsets = [torch.from_numpy(np.flatnonzero(mask)).to(device) for mask in masks]
    m = len(subsets[0])
    if any(len(s) != m for s in subsets):
        raise ValueError("batched training needs subsets of equal size m")
    total = recipe.epochs * math.ceil(m / recipe.batch_size)
    diverged = torch.zeros(k, dtype=torch.bool, device=device)
    step = 0
    for _ in range(recipe.epochs):
        orders = torch.stack([_epoch_order(s, g) for s, g in zip(subsets, generators,
                                                                 strict=True)])
        for batch in orders.split(recipe.batch_size, dim=1):  # (K, B) example indices
            x = x_train[batch.reshape(-1)]
            if augment:
                x = augment_crop_flip(x, generators[0])
            if bf16:
                for low, p in zip(compute, params, strict=True):
                    low.copy_(p)
            keep: list[torch.Tensor] = []
            logits = batched.mlp_forward(compute, x.reshape(k, batch.shape[1], -1), keep)
            losses, dlogits = batched.cross_entropy_and_grad(
                logits.float(), data.y_train[batch], recipe.label_smoothing)
            diverged |= ~torch.isfinite(losses)
            dlogits.masked_fill_(diverged[:, None, None], 0.0)
            lr = recipe.lr * lr_factor(recipe.schedule, step, total, recipe.warmup_fraction)
            batched.sgd_backward_step(params, keep, dlogits, grads, buffers, step == 0, lr,
                                      recipe, compute)
            step += 1
            bar.update(k)
    finite = torch.stack([torch.isfinite(p).flatten(1).all(1) for p in params]).all(0)
    diverged |= ~finite
    if bf16:
        for low, p in zip(compute, params, strict=True):
            low.copy_(p)
    train_pred = batched.predict(compute, x_train)
    test_pred = batched.predict(compute, normalize(data.x_test).to(dtype))
    return train_pred, test_pred, diverged.cpu().numpy()
