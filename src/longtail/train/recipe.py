"""A training recipe as data, and the pieces both training methods share: the learning-rate
schedule, augmentation, normalisation, each model's minibatch stream and the precision rule.

:mod:`longtail.train.training` (one model at a time, autograd) and :mod:`longtail.train.batched`
(the hand-batched MLP ensemble) both train by these, so the two methods run the same recipe.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from longtail.config.errors import ConfigError
from longtail.config.study import with_defaults


@dataclass(frozen=True)
class Recipe:
    """Training hyperparameters (config ``studies.<name>.train``); their defaults are the
    schema's (``longtail/config/config.schema.yaml``), filled in before a Recipe is built."""

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
            raise ConfigError(f"unknown train keys {unknown}; known: {sorted(known)}")
        missing = [name for name in known if name not in train]
        if missing:
            raise ConfigError(f"train keys {missing} missing: build a Recipe from a validated "
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
    raise ConfigError(f"unknown schedule '{schedule}'")


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


def use_augment(recipe: Recipe, shape: tuple[int, int, int]) -> bool:
    """The recipe's ``augment``, or by default crop-and-flip for 32 x 32 colour images."""
    return recipe.augment if recipe.augment is not None else (shape[0] == 3 and shape[1] == 32)


def epoch_order(subset: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One epoch's order of a model's subset, from its own minibatch stream."""
    return subset[torch.randperm(len(subset), generator=generator)]


# A last minibatch smaller than batch_size / SMALLEST_LAST_BATCH joins the one before it.
SMALLEST_LAST_BATCH = 8


def steps_per_epoch(m: int, batch_size: int) -> int:
    """SGD steps an epoch of ``m`` examples takes: ceil(m / batch_size), one fewer when the
    remainder is under batch_size / 8 and joins the last full batch (:func:`minibatches`)."""
    full, rest = divmod(m, batch_size)
    return full + (rest > 0 and (full == 0 or rest * SMALLEST_LAST_BATCH >= batch_size))


def minibatches(order: torch.Tensor, batch_size: int, dim: int = 0) -> tuple[torch.Tensor, ...]:
    """An epoch's ``order`` cut into minibatches of ``batch_size`` along ``dim``. A remainder
    under batch_size / 8 joins the last full batch: one step at the full learning rate on a
    handful of examples can throw a model off (9,217 examples in batches of 512 leave one, and
    Fig. 2's models trained on them collapsed to 36% test accuracy)."""
    batches = order.split(batch_size, dim=dim)
    if len(batches) > steps_per_epoch(order.shape[dim], batch_size):
        batches = (*batches[:-2], torch.cat(batches[-2:], dim=dim))
    return batches


def minibatch_generator(seed: int, device: torch.device) -> torch.Generator:
    """A model's minibatch stream (order and augmentation), derived from its trial seed."""
    return torch.Generator(device=device).manual_seed((seed + 1) % 2**63)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 GEMMs in hardware: a CUDA GPU that supports bf16, or a
    CPU with AMX-BF16 or AVX512-BF16. Elsewhere (an AVX2 CPU, most laptops) oneDNN emulates
    bf16 and a bf16 GEMM runs ~30x slower than a float32 one (benchmarks/train_throughput.py,
    ``bf16_gemm_gflops``; docs/performance.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    return _cpu_has_bf16()


@functools.cache
def _cpu_has_bf16() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags = set(cpuinfo.read_text(errors="replace").split())
        return bool(flags & {"amx_bf16", "avx512_bf16"})
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # not Linux: oneDNN's own check


def uses_bf16(recipe: Recipe, device: torch.device) -> bool:
    """bfloat16 matmuls with float32 weights, optimizer state and loss (mixed precision), for
    both methods: ``precision: bf16`` anywhere; ``auto`` where the device has native bf16
    (:func:`native_bf16`: a CUDA GPU, a CPU with AMX or AVX512-BF16), float32 elsewhere. On a
    CPU with AMX the batched MLP trains ~2.2x faster in bf16 than in float32; on an AVX2 CPU
    bf16 is emulated and float32 is far faster (docs/performance.md)."""
    if recipe.precision == "auto":
        return native_bf16(device)
    return recipe.precision == "bf16"


def resolved_precision(recipe: Recipe, device: torch.device) -> str:
    """``bf16`` or ``fp32``: what :func:`uses_bf16` makes of the recipe on this device (recorded
    in every trial shard, so that one store never mixes models trained in both)."""
    return "bf16" if uses_bf16(recipe, device) else "fp32"
