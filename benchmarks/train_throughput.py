"""Training throughput of a study's recipe, measured side by side in one run.

Reads the study's arch, recipe (epochs, batch size, lr, momentum, weight decay, schedule,
warm-up, precision, ensemble size, threads), n and subset ratio from the config (default:
``config.yaml``, study ``fashion-mnist-mlp``); ``--epochs``, ``--models``, ``--threads``,
``--precision``, ``--arch``, ``--batch-size`` and ``--n`` override them. Trains on random data of
the study's shape (n training and n_test test examples, m = round(subset_ratio * n) per model),
so nothing needs downloading. In interleaved rounds, keeping each side's best round (a busy
machine slows a round, never speeds it up), and at ``--threads`` threads unless said otherwise:

* ``chosen``: ``--models`` models by the method the recipe's ``method`` picks (``auto``: the
  hand-batched ensemble for MLPs), ``longtail.train.training.train_trials``, in the recipe's
  precision,
* ``fp32``: the same method and models with ``precision: fp32`` (not run again when the recipe is
  float32 already),
* ``tight_loop``: ``--loop-models`` models one at a time in plain PyTorch with the same recipe
  (same widths, batch size, lr, momentum, weight decay and lr schedule; pre-normalised tensors,
  nn.Sequential, foreach SGD, ``torch.autocast(device, dtype=torch.bfloat16)`` and a float32
  loss for a bf16 recipe, the same evaluation on all n + n_test examples): the best plain
  PyTorch does without batching, not a strawman,
* ``project_loop``: the project's own loop path (``method: loop``, the recipe's precision) on
  the same ``--loop-models`` models,
* ``gemm`` / ``bf16_gemm``: a large square float32 / bfloat16 ``torch.matmul`` (float32 without
  TF32 on CUDA), the machine's practical GEMM ceilings in each precision,
* with ``--jobs J`` > 1 (default 2 on CPU, 1 on CUDA; 0 or 1: not measured): J processes of
  ``--threads`` threads each training ``--models`` models by the chosen method side by side, as
  the workflow runs its training jobs, and one process training ``--models`` models with
  J x threads threads.

GFLOP/s count the FLOPs a training step really executes, from the arch's real layer widths
(``mlp``: 512-256; ``mlp-W1-W2..``: W1, W2, ..): forward 2*MAC, weight gradients 2*MAC, input
gradients 2*MAC for every layer but the first, times epochs * m; plus the evaluation of all
n + n_test examples (2*MAC each). Prints one JSON line:

* ``benchmark``, ``device`` (GPU name or CPU), ``threads`` (per process), ``method`` (chosen),
  ``models`` (of chosen, fp32 and each parallel job), ``epochs``, ``rounds``, ``study``,
  ``arch``, ``precision`` (the recipe's, resolved: bf16 | fp32), ``bf16_native`` (whether the
  device has bfloat16 in hardware, :func:`longtail.train.recipe.native_bf16`), ``batch_size``,
  ``n``, ``m``;
* ``chosen_models_per_s``, ``fp32_models_per_s``, ``tight_loop_models_per_s``,
  ``project_loop_models_per_s``: models trained (and evaluated) per second;
* ``chosen_gflops``, ``tight_loop_gflops``: their GFLOP/s by the count above;
* ``gemm_gflops``: the float32 GEMM peak; ``bf16_gemm_gflops``: the bfloat16 GEMM peak;
* ``speedup``: chosen / tight loop (models/s); ``bf16_speedup_over_fp32``: chosen / fp32
  (models/s; 1.0 for a float32 recipe);
* ``gemm_fraction``: chosen GFLOP/s / float32 GEMM peak; ``gemm_fraction_same_precision``:
  chosen GFLOP/s / the GEMM peak of the precision it trains in;
* ``jobs``; ``parallel_jobs_models_per_s``: J * models / the wall time of the J side-by-side
  jobs; ``one_process_models_per_s``: models / the wall time of one process with J x threads
  threads (both null when ``--jobs`` <= 1);
* ``baseline`` (``--baseline SRC``: another checkout's ``src``, e.g. a git worktree of an older
  commit), ``baseline_models_per_s``: that version's trainer on the chosen side's models, in
  the same resolved precision, in a worker process timed in the same rounds;
  ``speedup_over_baseline``: chosen / baseline (all null without ``--baseline``).

    python benchmarks/train_throughput.py [--study fashion-mnist-mlp] [--config config.yaml]
        [--device cpu|cuda] [--epochs 30] [--models 16] [--threads 1] [--precision bf16]
        [--arch mlp-384-192] [--batch-size 512] [--n 10000] [--rounds 3] [--jobs 2]
        [--baseline ../old-checkout/src]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from longtail.config.bases import resolve_bases
from longtail.config.study import subset_size, trial_seed, with_defaults
from longtail.train import recipe as recipe_rules  # native_bf16 read in main: a --baseline worker
from longtail.train.models import mlp_widths
from longtail.train.recipe import Recipe, TrainingData, lr_factor, uses_bf16  # may run older code
from longtail.train.training import resolve_method, subset_mask, train_trials
from longtail.workflow.checks import study_sizes

ROOT = Path(__file__).resolve().parents[1]
# The datasets whose images have a fixed shape (not ImageNet's data.image_size).


@dataclass(frozen=True)
class Setup:
    """What every side trains: the study's data shape, arch, recipe and trials."""

    study: str
    arch: str
    widths: tuple[int, ...]
    recipe: Recipe
    bf16: bool
    data: TrainingData
    study_seed: int
    m: int
    models: int

    def trials(self, start: int, count: int) -> tuple[list[int], np.ndarray]:
        """Seeds and subset masks of trials start .. start + count - 1."""
        seeds = [trial_seed(self.study_seed, k) for k in range(start, start + count)]
        n = len(self.data.y_train)
        return seeds, np.stack([subset_mask(n, self.m, s) for s in seeds])


def layer_widths(arch: str, inputs: int, classes: int) -> tuple[int, ...]:
    """(input, hidden..., classes) of a fully-connected arch."""
    hidden = (512, 256) if arch == "mlp" else () if arch == "linear" else mlp_widths(arch)
    if hidden is None:
        raise SystemExit(f"arch '{arch}' is not fully connected; this benchmark times mlp, "
                         f"mlp-W1-W2.. and linear")
    return (inputs, *hidden, classes)


def flops_per_example(widths: tuple[int, ...]) -> tuple[float, float]:
    """(training step, evaluation) FLOPs per example of the MLP with these layer widths."""
    macs = [a * b for a, b in zip(widths[:-1], widths[1:], strict=True)]
    return 2 * sum(macs) + 2 * sum(macs) + 2 * sum(macs[1:]), 2 * sum(macs)


def significant(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant figures (GFLOP/s span 0.1 to 10^5 across devices)."""
    return float(f"{value:.{digits}g}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def allow_tf32(device: torch.device, allowed: bool) -> None:
    """On CUDA, TF32 as the project sets it for a recipe (on for bf16/auto, off for fp32)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = allowed
        torch.backends.cudnn.allow_tf32 = allowed


def gemm_gflops(device: torch.device, dtype: torch.dtype, threads: int, largest: int = 2048,
                repeats: int = 10, enough: float = 0.05) -> float:
    """Best GFLOP/s of a square ``torch.matmul`` in ``dtype``: the size doubles from 256 until
    one product takes ``enough`` seconds or reaches ``largest`` (an emulated bf16 GEMM on an
    AVX2 CPU runs at ~1/30 of float32, so a fixed 2048 would take minutes)."""
    torch.set_num_threads(threads)
    allow_tf32(device, False)
    size = 256
    while True:
        a = torch.randn(size, size, device=device).to(dtype)
        b = torch.randn(size, size, device=device).to(dtype)
        torch.matmul(a, b)
        sync(device)
        began = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        if time.perf_counter() - began >= enough or size >= largest:
            break
        size *= 2
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best / 1e9


def tight_loop_seconds(setup: Setup, masks: np.ndarray, device: torch.device) -> float:
    """One model after another with nothing in the hot loop but the step itself."""
    recipe, widths = setup.recipe, setup.widths
    torch.set_num_threads(recipe.threads)
    allow_tf32(device, setup.bf16)
    data = setup.data
    x = data.x_train.to(device).float().flatten(1) / 255.0
    x_mean, x_std = x.mean(), x.std()
    x = (x - x_mean) / x_std
    y = data.y_train.to(device)
    x_test = (data.x_test.to(device).float().flatten(1) / 255.0 - x_mean) / x_std
    y_test = data.y_test.to(device)
    began = time.perf_counter()
    for k, mask in enumerate(masks):
        torch.manual_seed(k)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        model = nn.Sequential(*layers[:-1]).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                              weight_decay=recipe.weight_decay, foreach=True)
        subset = torch.from_numpy(np.flatnonzero(mask)).to(device)
        total = recipe.epochs * math.ceil(len(subset) / recipe.batch_size)
        step = 0
        for _ in range(recipe.epochs):
            for batch in subset[torch.randperm(len(subset), device=device)].split(
                    recipe.batch_size):
                for group in opt.param_groups:
                    group["lr"] = recipe.lr * lr_factor(recipe.schedule, step, total,
                                                        recipe.warmup_fraction)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=setup.bf16):
                    logits = model(x[batch])
                loss = nn.functional.cross_entropy(logits.float(), y[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
        # A trial ends by recording correctness on all examples.
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16,
                                             enabled=setup.bf16):
            for xs, ys in ((x, y), (x_test, y_test)):
                correct = (model(xs).argmax(1) == ys).cpu()
    del correct
    sync(device)
    return time.perf_counter() - began


def timed_train(setup: Setup, recipe: Recipe, seeds: list[int], masks: np.ndarray,
                device: torch.device) -> float:
    """Seconds of ``train_trials`` (the project's path) for these trials."""
    allow_tf32(device, uses_bf16(recipe, device))
    began = time.perf_counter()
    train_trials(setup.data, setup.arch, recipe, seeds, masks, progress=False)
    sync(device)
    return time.perf_counter() - began


class ParallelJobs:
    """Copies of this script (``--worker j``), each training ``--models`` models by the chosen
    method at ``--threads`` threads whenever it reads a line; they warm up once, then wait.
    ``env`` runs them on another checkout (``PYTHONPATH``), ``extra`` adds arguments."""

    def __init__(self, workers: Sequence[int], env: dict[str, str] | None = None,
                 extra: Sequence[str] = ()) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:], *extra,
                   "--worker"]
        self.procs = [subprocess.Popen([*command, str(j)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True,
                                       env={**os.environ, **(env or {})})
                      for j in workers]
        for proc in self.procs:
            self._expect(proc, "ready")

    @staticmethod
    def _expect(proc: subprocess.Popen, word: str) -> None:
        line = proc.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"benchmark worker said {line!r}, not {word!r} (its stderr above)")

    def seconds(self) -> float:
        """Wall time from starting all jobs to the last one finishing."""
        began = time.perf_counter()
        for proc in self.procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in self.procs:
            self._expect(proc, "done")
        return time.perf_counter() - began

    def close(self) -> None:
        for proc in self.procs:
            proc.stdin.close()
            proc.wait()


def baseline_jobs(src: str, setup: Setup) -> ParallelJobs:
    """One worker on another checkout's package (``src``: its ``src`` folder), training the
    chosen side's own trials (worker -1) in the same resolved precision: today's trainer
    against another version's, side by side in one run."""
    shape = "x".join(str(side) for side in setup.data.x_train.permute(0, 2, 3, 1).shape[1:])
    return ParallelJobs([-1], env={"PYTHONPATH": str(Path(src).resolve())},
                        extra=["--precision", "bf16" if setup.bf16 else "fp32", "--jobs", "0",
                               "--data-shape", shape, "--classes", str(setup.data.num_classes)])


def worker(setup: Setup, job: int, models: int, device: torch.device) -> None:
    """Parallel job ``job``: its own trials (job -1: the chosen side's), warm-up, then one
    training per line on stdin."""
    seeds, masks = setup.trials((job + 1) * models, models)
    timed_train(setup, replace(setup.recipe, epochs=1), seeds, masks, device)
    print("ready", flush=True)
    for _ in sys.stdin:
        timed_train(setup, setup.recipe, seeds, masks, device)
        print("done", flush=True)


def dataset_facts(study: str, dataset: object) -> tuple[tuple[int, int, int], int]:
    """(image shape, classes) of a built-in dataset with a fixed shape, from the registry."""
    from longtail.data.datasets import REGISTRY  # here: a --baseline worker runs older code

    fixed = [name for name, facts in REGISTRY.items() if facts.shape is not None]
    if not isinstance(dataset, str) or dataset not in fixed:
        raise SystemExit(f"study '{study}' has dataset {dataset!r}; this benchmark makes "
                         f"random data shaped like {', '.join(fixed)}")
    return REGISTRY[dataset].shape, REGISTRY[dataset].classes


def build_setup(args: argparse.Namespace, device: torch.device) -> Setup:
    config = yaml.safe_load(Path(args.config).read_text())
    resolve_bases(config)  # a study with `base:` as the workflow reads it
    if args.study not in config["studies"]:
        raise SystemExit(f"study '{args.study}' is not in {args.config} "
                         f"(known: {', '.join(config['studies'])})")
    study = with_defaults(config["studies"][args.study])
    if args.data_shape:  # a --baseline worker: from its parent (older code has no registry)
        shape = tuple(int(side) for side in args.data_shape.split("x"))
        classes = args.classes
    else:
        shape, classes = dataset_facts(args.study, study["dataset"])
    arch = args.arch or study["arch"]
    recipe = Recipe.from_config(study["train"])
    overrides = {"epochs": args.epochs, "threads": args.threads, "precision": args.precision,
                 "batch_size": args.batch_size}
    recipe = replace(recipe, device=device.type,
                     **{k: v for k, v in overrides.items() if v is not None})
    models = args.models or recipe.ensemble_size
    bf16 = uses_bf16(recipe, device)
    # The resolved precision, so that every side (and the workers) trains in the same one.
    recipe = replace(recipe, ensemble_size=min(recipe.ensemble_size, models),
                     precision="bf16" if bf16 else "fp32")
    n_study, n_test_study = study_sizes(study)
    n = args.n or n_study
    n_test = n_test_study if n == n_study else max(round(n * n_test_study / n_study), 1)
    rng = np.random.default_rng(0)
    data = TrainingData.from_arrays(
        rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, classes, n),
        rng.integers(0, 256, (n_test, *shape), dtype=np.uint8), rng.integers(0, classes, n_test),
        classes)
    return Setup(args.study, arch, layer_widths(arch, math.prod(shape), classes), recipe, bf16,
                 data, study["seed"], subset_size(n, study["subset_ratio"]), models)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--study", default="fashion-mnist-mlp")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--arch", help="default: the study's")
    parser.add_argument("--epochs", type=int, help="default: the study's")
    parser.add_argument("--batch-size", type=int, help="default: the study's")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="default: the study's (auto: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--threads", type=int, help="per process; default: the study's")
    parser.add_argument("--models", type=int,
                        help="models of the chosen method; default: the study's ensemble_size")
    parser.add_argument("--loop-models", type=int, default=4)
    parser.add_argument("--n", type=int, help="training examples; default: the study's n")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repeats, best kept")
    parser.add_argument("--jobs", type=int,
                        help="parallel processes (default 2 on CPU, 1 = not measured on CUDA)")
    parser.add_argument("--baseline", metavar="SRC",
                        help="another checkout's src folder (e.g. a git worktree of an older "
                             "commit): its trainer runs the chosen side's models side by side")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-shape", help=argparse.SUPPRESS)  # HxWxC, for --baseline workers
    parser.add_argument("--classes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = torch.device(args.device)
    setup = build_setup(args, device)
    recipe, models = setup.recipe, setup.models
    if args.worker is not None:
        worker(setup, args.worker, models, device)
        return
    jobs = args.jobs if args.jobs is not None else 2 if device.type == "cpu" else 1

    seeds, masks = setup.trials(0, models)
    loop_seeds, loop_masks = seeds[: args.loop_models], masks[: args.loop_models]
    fp32_recipe = replace(recipe, precision="fp32")
    loop_recipe = replace(recipe, method="loop")
    wide_recipe = replace(recipe, threads=jobs * recipe.threads)
    method = resolve_method(recipe, setup.arch, device)

    # Warm-up (allocator, oneDNN/cuBLAS kernels for every shape): one epoch of each side.
    warm = replace(setup, recipe=replace(recipe, epochs=1))
    timed_train(warm, warm.recipe, seeds, masks, device)
    if setup.bf16:
        timed_train(warm, replace(fp32_recipe, epochs=1), seeds, masks, device)
    tight_loop_seconds(warm, loop_masks[:1], device)
    timed_train(warm, replace(loop_recipe, epochs=1), loop_seeds[:1], loop_masks[:1], device)
    parallel = None
    if jobs > 1:
        timed_train(warm, replace(wide_recipe, epochs=1), seeds, masks, device)
        parallel = ParallelJobs(range(jobs))
    baseline = baseline_jobs(args.baseline, setup) if args.baseline else None

    # Interleaved rounds, best of each: a busy machine slows a round, never speeds it up.
    gflops: dict[str, list[float]] = {"gemm": [], "bf16_gemm": []}
    seconds: dict[str, list[float]] = {"chosen": [], "fp32": [], "tight": [], "project_loop": [],
                                       "parallel": [], "one_process": [], "baseline": []}
    try:
        for _ in range(args.rounds):
            gflops["gemm"].append(gemm_gflops(device, torch.float32, recipe.threads))
            gflops["bf16_gemm"].append(gemm_gflops(device, torch.bfloat16, recipe.threads))
            seconds["chosen"].append(timed_train(setup, recipe, seeds, masks, device))
            if baseline is not None:
                seconds["baseline"].append(baseline.seconds())
            if setup.bf16:
                seconds["fp32"].append(timed_train(setup, fp32_recipe, seeds, masks, device))
            seconds["tight"].append(tight_loop_seconds(setup, loop_masks, device))
            seconds["project_loop"].append(timed_train(setup, loop_recipe, loop_seeds,
                                                       loop_masks, device))
            if parallel is not None:
                seconds["parallel"].append(parallel.seconds())
                seconds["one_process"].append(timed_train(setup, wide_recipe, seeds, masks,
                                                          device))
    finally:
        for jobs_running in (parallel, baseline):
            if jobs_running is not None:
                jobs_running.close()
    best = {name: max(values) for name, values in gflops.items()}
    best.update({name: min(values) for name, values in seconds.items() if values})

    n, n_test, m = len(setup.data.y_train), len(setup.data.y_test), setup.m
    train_flops, eval_flops = flops_per_example(setup.widths)
    flops_model = recipe.epochs * m * train_flops + (n + n_test) * eval_flops
    chosen_rate = models / best["chosen"]
    fp32_rate = models / best["fp32"] if setup.bf16 else chosen_rate
    tight_rate = len(loop_masks) / best["tight"]
    chosen_gflops = chosen_rate * flops_model / 1e9
    own_gemm = best["bf16_gemm"] if setup.bf16 else best["gemm"]
    result = {
        "benchmark": "train_throughput",
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "threads": recipe.threads,
        "method": method,
        "models": models,
        "epochs": recipe.epochs,
        "rounds": args.rounds,
        "study": setup.study,
        "arch": setup.arch,
        "precision": "bf16" if setup.bf16 else "fp32",
        "bf16_native": recipe_rules.native_bf16(device),
        "batch_size": recipe.batch_size,
        "n": n,
        "m": m,
        "chosen_models_per_s": round(chosen_rate, 4),
        "fp32_models_per_s": round(fp32_rate, 4),
        "tight_loop_models_per_s": round(tight_rate, 4),
        "project_loop_models_per_s": round(len(loop_masks) / best["project_loop"], 4),
        "chosen_gflops": significant(chosen_gflops),
        "tight_loop_gflops": significant(tight_rate * flops_model / 1e9),
        "gemm_gflops": significant(best["gemm"]),
        "bf16_gemm_gflops": significant(best["bf16_gemm"]),
        "speedup": round(chosen_rate / tight_rate, 3),
        "bf16_speedup_over_fp32": round(chosen_rate / fp32_rate, 3),
        "gemm_fraction": round(chosen_gflops / best["gemm"], 3),
        "gemm_fraction_same_precision": round(chosen_gflops / own_gemm, 3),
        "jobs": jobs,
        "parallel_jobs_models_per_s": round(jobs * models / best["parallel"], 4)
        if parallel is not None else None,
        "one_process_models_per_s": round(models / best["one_process"], 4)
        if parallel is not None else None,
        "baseline": args.baseline,
        "baseline_models_per_s": round(models / best["baseline"], 4) if baseline else None,
        "speedup_over_baseline": round(best["baseline"] / best["chosen"], 3)
        if baseline else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
