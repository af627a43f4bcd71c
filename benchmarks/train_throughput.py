"""Training throughput of a shard's models, measured side by side in one run.

Compares, on the same data and recipe (the default study's 784-512-256-10 MLP, batch 128,
m = 7000 of n = 10000 Fashion-MNIST-sized examples):

* ``chosen``: the method ``train.method = auto`` picks (``longtail.training.train_trials``),
* ``tight_loop``: a tight one-model-at-a-time loop (pre-normalised tensors, nn.Sequential,
  foreach SGD, the same evaluation on all n + n_test examples): the best plain PyTorch does
  without batching, not a strawman,
* ``project_loop``: the project's own loop path (``method = loop``),
* ``gemm``: a large square float32 ``torch.matmul``, the machine's practical GEMM ceiling.

GFLOP/s count the FLOPs a training step really executes: forward 2*MAC, weight gradients
2*MAC, input gradients 2*MAC for every layer but the first. Prints one JSON line with
``speedup`` (chosen vs tight loop, models/s) and ``gemm_fraction`` (chosen GFLOP/s / GEMM).

    python benchmarks/train_throughput.py [--device cpu|cuda] [--epochs 1] [--models 16]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import numpy as np
import torch
from torch import nn

from longtail.training import (
    Recipe,
    TrainingData,
    lr_factor,
    resolve_method,
    subset_mask,
    train_trials,
    trial_seed,
)

LAYERS = (784, 512, 256, 10)


def flops_per_example() -> tuple[float, float]:
    """(training step, evaluation) FLOPs per example of the 784-512-256-10 MLP."""
    macs = [a * b for a, b in zip(LAYERS[:-1], LAYERS[1:], strict=True)]
    return 2 * sum(macs) + 2 * sum(macs) + 2 * sum(macs[1:]), 2 * sum(macs)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def gemm_gflops(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.matmul(a, b)
    sync(device)
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best / 1e9


def tight_loop_seconds(data: TrainingData, recipe: Recipe, masks: np.ndarray,
                       device: torch.device) -> float:
    """One model after another with nothing in the hot loop but the step itself."""
    x = data.x_train.to(device).float().flatten(1) / 255.0
    x_mean, x_std = x.mean(), x.std()
    x = (x - x_mean) / x_std
    y = data.y_train.to(device)
    x_test = (data.x_test.to(device).float().flatten(1) / 255.0 - x_mean) / x_std
    y_test = data.y_test.to(device)
    began = time.perf_counter()
    for k, mask in enumerate(masks):
        torch.manual_seed(k)
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                              nn.Linear(256, 10)).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                              weight_decay=recipe.weight_decay, foreach=True)
        subset = torch.from_numpy(np.flatnonzero(mask)).to(device)
        total = recipe.epochs * math.ceil(len(subset) / recipe.batch_size)
        step = 0
        for _ in range(recipe.epochs):
            for batch in subset[torch.randperm(len(subset), device=device)].split(
                    recipe.batch_size):
                for group in opt.param_groups:
                    group["lr"] = recipe.lr * lr_factor(recipe.schedule, step, total, 0.2)
                loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
        with torch.no_grad():  # a trial ends by recording correctness on all examples
            for xs, ys in ((x, y), (x_test, y_test)):
                correct = (model(xs).argmax(1) == ys).cpu()
    del correct
    sync(device)
    return time.perf_counter() - began


def timed_train(data: TrainingData, recipe: Recipe, seeds: list[int], masks: np.ndarray,
                device: torch.device) -> float:
    began = time.perf_counter()
    train_trials(data, "mlp", recipe, seeds, masks, progress=False)
    sync(device)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=12, help="the default study's recipe")
    parser.add_argument("--models", type=int, default=16, help="models of the chosen method")
    parser.add_argument("--loop-models", type=int, default=4)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repeats, best kept")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    n, n_test = args.n, args.n // 5
    data = TrainingData.from_arrays(
        rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, n),
        rng.integers(0, 256, (n_test, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, n_test),
        10)
    m = round(0.7 * n)
    seeds = [trial_seed(0, k) for k in range(args.models)]
    masks = np.stack([subset_mask(n, m, s) for s in seeds])
    recipe = Recipe(epochs=args.epochs, batch_size=128, lr=0.1, weight_decay=0.0,
                    ensemble_size=args.models, device=device.type, threads=args.threads)
    method = resolve_method(recipe, "mlp", device)

    timed_train(data, recipe, seeds[:2], masks[:2], device)  # warm-up (allocator, kernels)
    loop_masks = masks[: args.loop_models]
    loop_recipe = Recipe(**{**recipe.__dict__, "method": "loop"})
    # Interleaved rounds, best of each: a busy machine slows a round, never speeds it up.
    gemm, chosen_s, tight_s, project_loop_s = 0.0, math.inf, math.inf, math.inf
    for _ in range(args.rounds):
        gemm = max(gemm, gemm_gflops(device))
        chosen_s = min(chosen_s, timed_train(data, recipe, seeds, masks, device))
        tight_s = min(tight_s, tight_loop_seconds(data, recipe, loop_masks, device))
        project_loop_s = min(project_loop_s, timed_train(
            data, loop_recipe, seeds[: args.loop_models], loop_masks, device))

    # Training FLOPs of one model; evaluation of all n + n_test examples is counted too.
    train_flops, eval_flops = flops_per_example()
    flops_model = args.epochs * m * train_flops + (n + n_test) * eval_flops
    chosen_rate = args.models / chosen_s
    tight_rate = args.loop_models / tight_s
    result = {
        "benchmark": "train_throughput",
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "threads": args.threads,
        "method": method,
        "models": args.models,
        "epochs": args.epochs,
        "rounds": args.rounds,
        "chosen_models_per_s": round(chosen_rate, 4),
        "tight_loop_models_per_s": round(tight_rate, 4),
        "project_loop_models_per_s": round(args.loop_models / project_loop_s, 4),
        "chosen_gflops": round(chosen_rate * flops_model / 1e9, 1),
        "tight_loop_gflops": round(tight_rate * flops_model / 1e9, 1),
        "gemm_gflops": round(gemm, 1),
        "speedup": round(chosen_rate / tight_rate, 3),
        "gemm_fraction": round(chosen_rate * flops_model / 1e9 / gemm, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
