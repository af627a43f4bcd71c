"""Where a training step of the hand-batched MLP spends its time, at a study's shapes.

Trains ``--models`` models of the study's MLP (random data of the study's shape, its recipe:
batch size, precision, one thread) through the project's own path
(``longtail.train.training.train_trials``) for ``--epochs`` epochs under ``torch.profiler``, and
sorts the self CPU time of every operator into the parts of a step:

* ``gemm_forward`` (``baddbmm``: h W^T + b per layer), ``gemm_weight_grad`` (``baddbmm_``:
  momentum buffer += delta^T h, SGD's buffer update fused in), ``gemm_input_grad`` (``bmm``:
  delta W), ``gather`` (the minibatch rows), ``relu`` and ``relu_grad`` (ReLU'),
  ``loss`` (log-softmax, the one-hot target and dz), ``reductions`` (bias gradients and the
  per-model loss), ``update`` (p -= lr buf and weight decay), ``copies`` (bf16 weight copies,
  dtype casts), ``other`` operators, and ``python`` (the step's wall time the operators do not
  account for: the loop, the learning-rate schedule, dispatch);

the evaluation of all n + n_test examples after training (``evaluation``, profiled apart and
subtracted from the operators above) is spread over the steps like the rest; then, out of the
profiler, times the step's GEMMs alone at the same shapes (``gemm_floor_ms``:
the forward, weight-gradient and input-gradient products of one step, best of ``--repeats``).
Prints one JSON line: milliseconds per step of each part, ``step_ms`` (the profiled run's
wall time per step less ``evaluation``: the training step alone), ``gemm_ms`` (the three
GEMM parts), ``gemm_floor_ms``, ``gemm_share`` (gemm_ms / step_ms) and ``floor_share``
(gemm_floor_ms / step_ms: the fraction of the step a perfect trainer that did nothing but
these GEMMs would still need).

    python benchmarks/step_profile.py [--study fashion-mnist-mlp] [--models 16]
        [--epochs 2] [--precision auto|fp32|bf16]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.profiler import ProfilerActivity, profile

from longtail.config.bases import resolve_bases
from longtail.config.study import subset_size, trial_seed, with_defaults
from longtail.data.datasets import REGISTRY
from longtail.train.batched import predict, stack_linears
from longtail.train.models import mlp_widths
from longtail.train.recipe import Normalizer, Recipe, TrainingData, resolved_precision
from longtail.train.training import subset_mask, train_trials
from longtail.workflow.checks import study_sizes

ROOT = Path(__file__).resolve().parents[1]
PARTS = {  # operator -> part of the step
    "aten::baddbmm": "gemm_forward", "aten::baddbmm_": "gemm_weight_grad",
    "aten::bmm": "gemm_input_grad", "aten::index_select": "gather", "aten::index": "gather",
    "aten::relu_": "relu", "aten::clamp_min_": "relu", "aten::threshold_backward": "relu_grad",
    "aten::_log_softmax": "loss", "aten::exp": "loss", "aten::one_hot": "loss",
    "aten::scatter_": "loss", "aten::sub": "loss", "aten::div": "loss", "aten::neg": "loss",
    "aten::mul": "loss", "aten::sum": "reductions", "aten::mean": "reductions",
    "aten::add_": "update", "aten::mul_": "update", "aten::copy_": "copies",
    "aten::_to_copy": "copies",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--study", default="fashion-mnist-mlp")
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = yaml.safe_load(Path(args.config).read_text())
    resolve_bases(config)  # a study with `base:` as the workflow reads it
    study = with_defaults(config["studies"][args.study])
    recipe = replace(Recipe.from_config(study["train"]), epochs=args.epochs, threads=1,
                     device="cpu", ensemble_size=args.models,
                     precision=args.precision or study["train"]["precision"])
    device = torch.device("cpu")
    precision = resolved_precision(recipe, device)
    hidden = mlp_widths(study["arch"])
    if hidden is None:
        raise SystemExit(f"arch '{study['arch']}' is not an MLP")
    n, n_test = study_sizes(study)
    facts = REGISTRY[study["dataset"]]  # a built-in dataset of fixed shape
    shape, classes = facts.shape, facts.classes
    widths = (math.prod(shape), *hidden, classes)
    rng = np.random.default_rng(0)
    data = TrainingData.from_arrays(
        rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, classes, n),
        rng.integers(0, 256, (n_test, *shape), dtype=np.uint8), rng.integers(0, classes, n_test),
        classes)
    m = subset_size(n, study["subset_ratio"])
    seeds = [trial_seed(study["seed"], k) for k in range(args.models)]
    masks = np.stack([subset_mask(n, m, s) for s in seeds])
    steps = args.epochs * math.ceil(m / recipe.batch_size)

    def train() -> float:
        began = time.perf_counter()
        train_trials(data, study["arch"], recipe, seeds, masks, progress=False)
        return time.perf_counter() - began

    train()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        seconds = train()
    with profile(activities=[ProfilerActivity.CPU]) as eval_prof:  # the evaluation alone
        params = stack_linears(study["arch"], data.shape, classes, seeds, device)
        x = Normalizer(data.x_train)(torch.cat([data.x_train, data.x_test])).flatten(1)
        predict(params, x.to(torch.bfloat16) if precision == "bf16" else x)
    evaluation = {e.key: e.self_cpu_time_total / 1e3 for e in eval_prof.key_averages()}
    parts: dict[str, float] = {"evaluation": sum(evaluation.values())}
    for event in prof.key_averages():
        part = PARTS.get(event.key, "other")
        ms = event.self_cpu_time_total / 1e3 - evaluation.get(event.key, 0.0)
        parts[part] = parts.get(part, 0.0) + max(ms, 0.0)
    per_step = {name: ms / steps for name, ms in parts.items()}
    step_ms = seconds * 1e3 / steps - per_step["evaluation"]  # the training step alone
    per_step["python"] = max(step_ms - sum(ms for name, ms in per_step.items()
                                           if name != "evaluation"), 0.0)

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    k, b = args.models, recipe.batch_size
    h = [torch.randn(k, b, w).to(dtype) for w in widths]
    weights = [torch.randn(k, o, i).to(dtype) for i, o in zip(widths[:-1], widths[1:],
                                                               strict=True)]
    grads = [torch.zeros(k, o, i, dtype=dtype) for i, o in zip(widths[:-1], widths[1:],
                                                                strict=True)]
    bias = [torch.zeros(k, 1, o).to(dtype) for o in widths[1:]]
    torch.set_num_threads(1)

    def gemms() -> float:
        began = time.perf_counter()
        for layer, w in enumerate(weights):
            torch.baddbmm(bias[layer], h[layer], w.transpose(1, 2))
            grads[layer].baddbmm_(h[layer + 1].transpose(1, 2), h[layer], beta=0.9)
            if layer > 0:
                torch.bmm(h[layer + 1], w)
        return time.perf_counter() - began

    gemms()
    floor_ms = min(gemms() for _ in range(args.repeats)) * 1e3
    gemm_ms = sum(per_step.get(p, 0.0) for p in ("gemm_forward", "gemm_weight_grad",
                                                   "gemm_input_grad"))
    print(json.dumps({
        "benchmark": "step_profile", "device": platform.processor() or platform.machine(),
        "study": args.study, "arch": study["arch"], "precision": precision, "models": k,
        "batch_size": b, "steps": steps,
        **{f"{name}_ms": round(ms, 2) for name, ms in sorted(per_step.items())},
        "step_ms": round(step_ms, 2), "gemm_ms": round(gemm_ms, 2),
        "gemm_floor_ms": round(floor_ms, 2), "gemm_share": round(gemm_ms / step_ms, 3),
        "floor_share": round(floor_ms / step_ms, 3)}))


if __name__ == "__main__":
    main()
