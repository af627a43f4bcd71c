"""The hand-batched MLP: K fully-connected models trained as one, without autograd.

Used by ``train.method: batched``: :func:`train_batched` trains a group of models for
:func:`longtail.train.training.train_trials`, with the recipe's pieces of
:mod:`longtail.train.recipe`. Model k keeps its own weights, subset and minibatches; the K models
only share the kernels. With layer l's weights of all models stacked, ``W_l`` (K, out, in) and
``b_l`` (K, 1, out) (:func:`stack_linears`), and a minibatch per model ``h_0`` (K, B, D):

* forward (:func:`mlp_forward`): ``a_l = relu(h_{l-1} W_l^T + b_l)`` (no ReLU on the last layer,
  whose output is the logits z), one ``torch.baddbmm`` per layer;
* loss (:func:`cross_entropy_and_grad`): per model the mean over its B examples of the
  cross-entropy against the (label-smoothed) one-hot target t; its gradient w.r.t. the logits
  is ``dz = (softmax(z) - t) / B``. Model k's loss depends only on model k's weights, so the
  gradient of sum_k loss_k is every model's own gradient;
* backward (:func:`mlp_backward`): from ``delta_L = dz``, ``dW_l = delta_l^T h_{l-1}``,
  ``db_l = sum_B delta_l``, ``delta_{l-1} = (delta_l W_l) * 1[a_{l-1} > 0]``, one ``bmm`` each;
* update (:func:`sgd_step`): ``torch.optim.SGD``'s (dampening 0): ``g += wd p``;
  ``buf = g`` at the first step, else ``buf = m buf + g``; ``g = g + m buf`` (nesterov) or
  ``buf``; ``p -= lr g``. For plain momentum (the default recipe) :func:`sgd_backward_step`
  fuses the buffer update into the gradient GEMM (``buf = m buf + dW``, then ``buf += wd p``),
  the same sum in one pass fewer over the weights.

In mixed precision the GEMMs run on bfloat16 copies of the weights (float32 accumulation);
weights, momentum buffers and the loss stay float32.

The contract of this module is ``tests/test_batched.py``: the batched forward, loss, backward
and SGD step agree with autograd and ``torch.optim.SGD`` on the same model (``nn.Linear``
stack of :func:`longtail.train.models.build_model`), for every momentum/nesterov/weight-decay
variant and under bfloat16 autocast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from longtail.train import recipe as shared  # the recipe's pieces both training methods use
from longtail.train.models import build_model
from longtail.train.recipe import Recipe, TrainingData


def stack_linears(arch: str, shape: tuple[int, int, int], num_classes: int,
                   seeds: list[int], device: torch.device) -> list[torch.Tensor]:
    """Initial weights of each model exactly as the loop path builds them, stacked on dim 0:
    [W_1 (K, out, in), b_1 (K, 1, out), W_2, b_2, ...] (nn.Linear's own weight layout)."""
    models = [build_model(arch, shape, num_classes, seed) for seed in seeds]
    per_model = [[m for m in model.modules() if isinstance(m, nn.Linear)] for model in models]
    params = []
    for layer in range(len(per_model[0])):
        params.append(torch.stack([lins[layer].weight for lins in per_model]))
        params.append(torch.stack([lins[layer].bias[None, :] for lins in per_model]))
    return [p.detach().to(device).contiguous() for p in params]


class Workspace:
    """Work arrays that every step of a training loop reuses, by name. A fresh (K, B, width)
    tensor each step costs the CPU a page fault per 4 KiB (large blocks come from and go back to
    the OS), a pass over memory the GEMM itself does not need (docs/performance.md)."""

    def __init__(self) -> None:
        self._flat: dict[str, torch.Tensor] = {}

    def __call__(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A tensor of ``shape`` with ``like``'s dtype and device, contents undefined."""
        size = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.numel() < size or flat.dtype != like.dtype \
                or flat.device != like.device:
            flat = self._flat[name] = torch.empty(size, dtype=like.dtype, device=like.device)
        return flat[:size].view(shape)


def mlp_forward(params: list[torch.Tensor], x: torch.Tensor,
                 keep: list[torch.Tensor] | None = None, work: Workspace | None = None
                 ) -> torch.Tensor:
    """Hand-batched MLP: x (K, B, D) or shared (N, D) -> logits (K, B|N, C), one baddbmm per
    layer. ``keep`` collects each layer's input and output (after ReLU) for the backward;
    ``work`` (for batched x) holds the outputs, valid until the next step."""
    h = x
    last = len(params) // 2 - 1
    for layer in range(last + 1):
        weight_t = params[2 * layer].transpose(1, 2)
        bias = params[2 * layer + 1]
        if h.ndim == 3:
            out = None if work is None else work(
                f"a{layer}", (h.shape[0], h.shape[1], weight_t.shape[2]), h)
            a = torch.baddbmm(bias, h, weight_t, out=out)
        else:
            a = torch.matmul(h, weight_t) + bias
        if layer < last:
            a.relu_()
        if keep is not None:
            keep += [h, a]
        h = a
    return h


def mlp_backward(params: list[torch.Tensor], keep: list[torch.Tensor],
                  dlogits: torch.Tensor, out: list[torch.Tensor], beta: float,
                  work: Workspace | None = None) -> None:
    """out[i] <- beta * out[i] + d(sum_k loss_k)/d params[i]: the same maths as autograd,
    written with bmm in the (K, out, in) layout CPUs run fastest. With ``out`` the momentum
    buffers and beta the momentum, SGD's buffer update is fused into the gradient GEMM.

    ``params`` and ``keep`` may be bfloat16 copies (mixed precision): the GEMMs then run in
    bfloat16 with float32 accumulation and ``out`` (float32) receives their results. ``work``
    holds the back-propagated deltas (ReLU' is applied in place)."""
    delta = dlogits.to(params[0].dtype)
    fused = out[0].dtype == delta.dtype
    for layer in reversed(range(len(params) // 2)):
        h, a = keep[2 * layer], keep[2 * layer + 1]
        if layer < len(params) // 2 - 1:  # ReLU', with autograd's own kernel for it
            if work is None:
                delta = torch.ops.aten.threshold_backward(delta, a, 0)
            else:  # delta is this step's work array: in place
                torch.ops.aten.threshold_backward.grad_input(delta, a, 0, grad_input=delta)
        if fused:
            out[2 * layer].baddbmm_(delta.transpose(1, 2), h, beta=beta)
        elif beta == 0:
            out[2 * layer].copy_(torch.bmm(delta.transpose(1, 2), h))
        else:
            torch.add(torch.bmm(delta.transpose(1, 2), h), out[2 * layer], alpha=beta,
                      out=out[2 * layer])
        bias_grad = delta.sum(dim=1, keepdim=True)
        if beta == 0:
            out[2 * layer + 1].copy_(bias_grad)
        else:
            out[2 * layer + 1].mul_(beta).add_(bias_grad)
        if layer > 0:
            weight = params[2 * layer]
            delta = torch.bmm(delta, weight, out=None if work is None else work(
                f"delta{layer - 1}", (delta.shape[0], delta.shape[1], weight.shape[2]), delta))


def sgd_step(params: list[torch.Tensor], grads: list[torch.Tensor],
              buffers: list[torch.Tensor], first: bool, lr: float, recipe: Recipe) -> None:
    """torch.optim.SGD's update (weight decay, momentum, nesterov; dampening 0), in place,
    for gradients in ``grads`` (the unfused path)."""
    for p, g, buf in zip(params, grads, buffers, strict=True):
        if recipe.weight_decay:
            g.add_(p, alpha=recipe.weight_decay)
        if recipe.momentum:
            if first:
                buf.copy_(g)
            else:
                torch.add(g, buf, alpha=recipe.momentum, out=buf)
            g = g.add_(buf, alpha=recipe.momentum) if recipe.nesterov else buf
        p.add_(g, alpha=-lr)


def sgd_backward_step(params: list[torch.Tensor], keep: list[torch.Tensor],
                       dlogits: torch.Tensor, grads: list[torch.Tensor],
                       buffers: list[torch.Tensor], first: bool, lr: float,
                       recipe: Recipe, compute: list[torch.Tensor] | None = None,
                       work: Workspace | None = None) -> None:
    """Backward pass and SGD step. Plain momentum (the default recipe) accumulates the
    gradient straight into the momentum buffer, buf = m buf + g (+ wd p), saving two passes
    over the weights; nesterov and momentum-free recipes take the unfused path. ``compute``:
    the bfloat16 copies of ``params`` the forward pass used (mixed precision), if any;
    ``work``: the step's reused work arrays."""
    compute = params if compute is None else compute
    if recipe.momentum and not recipe.nesterov:
        mlp_backward(compute, keep, dlogits, buffers, beta=0.0 if first else recipe.momentum,
                     work=work)
        for p, buf in zip(params, buffers, strict=True):
            if recipe.weight_decay:
                buf.add_(p, alpha=recipe.weight_decay)
            p.add_(buf, alpha=-lr)
    else:
        mlp_backward(compute, keep, dlogits, grads, beta=0.0, work=work)
        sgd_step(params, grads, buffers, first, lr, recipe)


def cross_entropy_and_grad(logits: torch.Tensor, labels: torch.Tensor, smoothing: float
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model mean cross-entropy (K,) of logits (K, B, C) and its gradient w.r.t. logits."""
    log_probs = logits.log_softmax(dim=-1)
    target = F.one_hot(labels, logits.shape[-1]).to(logits.dtype)
    if smoothing:
        target = target * (1 - smoothing) + smoothing / logits.shape[-1]
    losses = -(target * log_probs).sum(-1).mean(-1)
    return losses, (log_probs.exp() - target) / logits.shape[1]


def predict(params: list[torch.Tensor], x: torch.Tensor, chunk: int = 2048
                     ) -> np.ndarray:
    """(K, N) int16: the class each of the K models predicts for each example."""
    flat = x.reshape(len(x), -1)
    return torch.cat([mlp_forward(params, xs).argmax(-1) for xs in flat.split(chunk)],
                     dim=1).to(torch.int16).cpu().numpy()


@torch.no_grad()
def train_batched(data: TrainingData, arch: str, recipe: Recipe, seeds: list[int],
                   masks: np.ndarray, device: torch.device, bar: tqdm
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K models of a fully-connected arch trained together; model k sees only S_{I_k}. The
    same recipe as the loop path of :func:`longtail.train.training.train_trials`, with this
    module's forward, backward and SGD step in place of autograd and ``torch.optim.SGD``."""
    fitted = fit_batched(data, arch, recipe, seeds, masks, device, bar)
    train_pred = predict(fitted.params, fitted.x_train)
    test_pred = predict(fitted.params, fitted.normalize(data.x_test).to(fitted.dtype))
    return train_pred, test_pred, fitted.diverged.cpu().numpy()


@dataclass
class FittedEnsemble:
    """The K trained models' weights (in the compute precision) and what predicting needs."""

    params: list[torch.Tensor]
    normalize: shared.Normalizer
    dtype: torch.dtype
    x_train: torch.Tensor  # normalized, in dtype
    diverged: torch.Tensor  # (K,) bool


@torch.no_grad()
def fit_batched(data: TrainingData, arch: str, recipe: Recipe, seeds: list[int],
                masks: np.ndarray, device: torch.device, bar: tqdm) -> FittedEnsemble:
    """The training loop of :func:`train_batched`, returning the trained ensemble."""
    k = len(seeds)
    normalize = shared.Normalizer(data.x_train)
    augment = shared.use_augment(recipe, data.shape)
    bf16 = shared.uses_bf16(recipe, device)
    dtype = torch.bfloat16 if bf16 else torch.float32
    x_train = normalize(data.x_train).to(dtype)
    params = stack_linears(arch, data.shape, data.num_classes, seeds, device)
    buffers = [torch.empty_like(p) for p in params]
    grads = [torch.empty_like(p) for p in params]
    compute = [torch.empty_like(p, dtype=dtype) for p in params] if bf16 else params
    generators = [shared.minibatch_generator(seed, device) for seed in seeds]
    subsets = [torch.from_numpy(np.flatnonzero(mask)).to(device) for mask in masks]
    m = len(subsets[0])
    if any(len(s) != m for s in subsets):
        raise ValueError("batched training needs subsets of equal size m")
    total = recipe.epochs * shared.steps_per_epoch(m, recipe.batch_size)
    diverged = torch.zeros(k, dtype=torch.bool, device=device)
    work = Workspace()
    step = 0
    for _ in range(recipe.epochs):
        orders = torch.stack([shared.epoch_order(s, g) for s, g in zip(subsets, generators,
                                                                 strict=True)])
        for batch in shared.minibatches(orders, recipe.batch_size, dim=1):  # (K, B) indices
            x = torch.index_select(x_train, 0, batch.reshape(-1), out=work(
                "x", (batch.numel(), *x_train.shape[1:]), x_train))
            if augment:
                x = shared.augment_crop_flip(x, generators[0])
            if bf16:
                for low, p in zip(compute, params, strict=True):
                    low.copy_(p)
            keep: list[torch.Tensor] = []
            logits = mlp_forward(compute, x.reshape(k, batch.shape[1], -1), keep, work)
            losses, dlogits = cross_entropy_and_grad(
                logits.float(), data.y_train[batch], recipe.label_smoothing)
            diverged |= ~torch.isfinite(losses)
            dlogits.masked_fill_(diverged[:, None, None], 0.0)
            lr = recipe.lr * shared.lr_factor(recipe.schedule, step, total, recipe.warmup_fraction)
            sgd_backward_step(params, keep, dlogits, grads, buffers, step == 0, lr,
                              recipe, compute, work)
            step += 1
            bar.update(k)
    finite = torch.stack([torch.isfinite(p).flatten(1).all(1) for p in params]).all(0)
    diverged |= ~finite
    if bf16:
        for low, p in zip(compute, params, strict=True):
            low.copy_(p)
    return FittedEnsemble(compute, normalize, dtype, x_train, diverged)
