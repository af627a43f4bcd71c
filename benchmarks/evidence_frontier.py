"""Evidence per CPU-minute: candidate recipes and study shapes, each trained by the real workflow
and read from its correctness store alone.

Issue 29: the default study should reach replicating influence pairs (the R-split mean Jaccard
of the pairs >= 0.7 at θ_infl <= 0.20 with >= 20 pairs a half) in as few minutes on 2 cores as
the paper's definitions allow (Algorithm 1, m = 0.7 n, θ_mem 0.25, same-class pairs). Each
candidate of ``--candidates`` (a study of config.yaml written as ``base:`` and the keys that
differ) is trained by ``snakemake results/<name>/correctness.h5 --cores 2`` in ``--workdir``
(two one-thread jobs side by side, as users run it; shards already there are reused, so a rerun
with a larger ``--trials`` trains only the new ones). A candidate that differs from another
only in a smaller n_test is derived from the other's trials on the test examples its own
data file draws (training never sees the test set; the other must draw them all, as a study
of the whole test split does); its row says ``derived`` and its costs are the other's, whose
models also evaluated the extra test examples. One JSON line per candidate:

* ``base``, ``changes``: the candidate as written (its keys flattened: ``train.epochs``);
* ``s_per_model``: the shards' recorded seconds per model (one job); ``minutes_t1024``: 1,024
  of them on ``jobs`` parallel jobs; ``train_minutes``: the trials in the store, likewise;
  ``run_minutes``: this invocation's workflow wall time (seconds when everything was
  reused: ``shards_trained`` 0);
* ``fit`` / ``worst_fit``: accuracy on the models' own subsets I_k (pooled / the worst model's),
  ``held_out``: on the examples left out, ``test``: on the test set;
* ``memorized``: |mem~ >= θ_mem| over all t trials; ``memorized_per_half`` (the smaller half's
  mean size over the R splits), ``memorized_jaccard`` (R-split mean) and its sd;
* ``pairs``: per θ_infl 0.15 / 0.20 / 0.25, the same-class pairs over all t trials (``count``),
  ``per_half``, ``jaccard`` and ``jaccard_std`` as for the memorized set;
* ``reach``: per θ_infl 0.15 / 0.20, the trials and minutes (at ``s_per_model`` on ``jobs``
  jobs) until the pairs' R-split mean Jaccard reaches ``target`` with ``min_pairs`` a half:
  ``measured`` (the first prefix of the trials curve, every ``--step`` trials, that does;
  ``low``..``trials`` brackets the crossing), else ``forecast`` (``longtail plan``'s
  forecast from the curve's doubling prefixes, with its interval), else ``cannot tell``;
* ``headline``: the fewer minutes of the two, with how it was found.

    python benchmarks/evidence_frontier.py --workdir /scratch/frontier [--trials 1024]
        [--only default mlp-256-128 ...] [--markdown frontier.md]

``--markdown`` writes the table of docs/recipe.md (the CPU in its header).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import longtail
from longtail.config.bases import BASE_KEY, resolve_study
from longtail.config.defaults import (
    DEFAULT_MEM_THRESHOLD,
    DEFAULT_MIN_PAIRS,
    DEFAULT_SPLITS,
    DEFAULT_TARGET,
)
from longtail.data import load_study_data
from longtail.estimators.algorithm1 import TooFewTrialsWarning
from longtail.estimators.plan import forecast
from longtail.estimators.reliability import Trials
from longtail.estimators.select import is_memorized
from longtail.estimators.trials_curve import curve_of, prefixes, read_curve_trials, trials_curve
from longtail.store.correctness import StoreReader

ROOT = Path(__file__).resolve().parents[1]
INFL = (0.15, 0.20, 0.25)      # θ_infl of the pairs' columns
HEADLINE_INFL = (0.15, 0.20)   # θ_infl the headline may use
REFERENCE_KEYS = ("arch", "train.epochs", "train.batch_size")  # shown for a study without base
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
NOT_BUILT = {"figures": {}, "tables": {}, "lastlayer": {"studies": []},
             "compare": {"groups": {}}, "galleries": {}}


# ----------------------------------------------------------------- candidates and their studies

def read_candidates(path: Path, config_path: Path, only: list[str] | None
                    ) -> tuple[dict[str, dict], dict[str, dict]]:
    """The selected candidates as written (their overlays) and as studies (bases merged in,
    looked up among the candidates, then config.yaml's studies)."""
    overlays = yaml.safe_load(path.read_text())["candidates"]
    bad = [name for name in overlays if not NAME.match(name)]
    if bad:
        raise SystemExit(f"{path}: candidate names must match {NAME.pattern}: {bad}")
    names = list(overlays) if not only else only
    unknown = sorted(set(names) - set(overlays))
    if unknown:
        raise SystemExit(f"--only names no candidate: {unknown} (known: {', '.join(overlays)})")
    known = {**yaml.safe_load(config_path.read_text())["studies"], **overlays}
    return ({name: overlays[name] for name in names},
            {name: resolve_study(name, known) for name in names})


def parent_of(name: str, studies: dict[str, dict]) -> str | None:
    """Another candidate that differs from ``name`` only in a larger n_test (null: all), whose
    trials ``name``'s row can be read from; the first such, None if none."""
    study = studies[name]
    rest = {key: value for key, value in study.items() if key != "n_test"}
    for other, candidate in studies.items():
        if other == name or {k: v for k, v in candidate.items() if k != "n_test"} != rest:
            continue
        mine, theirs = study.get("n_test"), candidate.get("n_test")
        if mine is not None and (theirs is None or theirs > mine):
            return other
    return None


def changes(overlay: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The overlay's keys, flattened (``train.epochs``), without ``base``."""
    flat: dict[str, Any] = {}
    for key, value in overlay.items():
        if key == BASE_KEY and not prefix:
            continue
        if isinstance(value, dict) and "kind" not in value:
            flat.update(changes(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def write_config(workdir: Path, studies: dict[str, dict], trials: int) -> Path:
    """The workflow's config: the candidates written out in full with t = ``trials``, and
    nothing else to build."""
    config = {"studies": {name: {**study, "trials": trials} for name, study in studies.items()},
              **NOT_BUILT}
    path = workdir / "frontier.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, config: Path, target: str, cores: int, log: Path) -> float:
    """Build ``target`` with the real workflow; its wall seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
             str(workdir), "--configfile", str(config), "--cores", str(cores),
             "--rerun-incomplete", target], stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise SystemExit(f"snakemake {target} failed ({log}; a run killed before may need "
                         f"`snakemake --unlock` in {workdir}):\n{tail}")
    return time.perf_counter() - began


def shard_times(workdir: Path, name: str, trials: int) -> dict[str, float]:
    """When each training shard of the study's first ``trials`` trials was written."""
    shards = (workdir / "results" / name / "trials").glob("*-*.h5")
    return {path.name: path.stat().st_mtime for path in shards
            if int(path.stem.split("-")[1]) <= trials}


# ----------------------------------------------------------------- a row from a store

def test_columns(store: Path, data: Path) -> np.ndarray | None:
    """The columns of ``store``'s test examples that the study of ``data`` draws (None when
    its training data differ or it draws a test example the store lacks)."""
    own = load_study_data(data)
    with StoreReader(store) as reader:
        train_index = reader.array("train_source_index")
        train_labels = reader.array("train_labels")
        test_index = reader.array("test_source_index")
        test_labels = reader.array("test_labels")
    if not (np.array_equal(own.train_source_index, train_index)
            and np.array_equal(own.y_train, train_labels)):
        return None
    columns = np.searchsorted(test_index, own.test_source_index)
    columns = np.minimum(columns, len(test_index) - 1)
    if not (np.array_equal(test_index[columns], own.test_source_index)
            and np.array_equal(test_labels[columns], own.y_test)):
        return None
    return columns


def reach(rows, doubling, infl: float, mem: float, target: float, min_pairs: float,
          minutes) -> dict[str, Any]:
    """Trials and minutes until the pairs at ``infl`` replicate: measured on the curve
    ``rows``, else forecast from its ``doubling`` prefixes, else cannot tell."""
    ok = (rows["jaccard"] >= target) & (np.minimum(rows["size_a"], rows["size_b"]) >= min_pairs)
    if ok.any():
        at = int(rows["t"][ok].iloc[0])
        before = rows["t"][rows["t"] < at]
        low, high, how, reason = (int(before.max()) + 1 if len(before) else 1), at, \
            "measured", f"reached at t = {at}"
    else:
        plan = forecast(doubling, target, "pairs", mem, infl, min_pairs)
        low, at, high, reason = plan.low, plan.trials_needed, plan.high, plan.reason
        how = "cannot tell" if at is None else "forecast"
    return {"how": how, "trials": at, "low": low, "high": high, "minutes": minutes(at),
            "minutes_low": minutes(low), "minutes_high": minutes(high), "reason": reason}


def finite(value: float, digits: int) -> float | None:
    """``value`` rounded, None for NaN (a Jaccard of two empty sets: JSON has no NaN)."""
    return round(float(value), digits) if math.isfinite(value) else None


def evidence(store: Path, columns: np.ndarray | None, args, jobs: int) -> dict[str, Any]:
    """The row's numbers from ``store`` (its test examples ``columns``; all when None)."""
    began = time.perf_counter()
    trials, ids, valid = read_curve_trials(store)
    if columns is not None:
        trials = Trials(trials.mask, trials.train_correct, trials.test_correct[:, columns],
                        trials.train_labels, trials.test_labels[columns])
    with StoreReader(store) as reader:
        wall = reader.array("wall_time")[valid]
        attrs = reader.attrs
    t, mask, correct = int(ids.max()) + 1, trials.mask, trials.train_correct
    seconds = float(np.nanmean(wall)) if np.isfinite(wall).any() else math.nan

    def minutes(count: int | None) -> float | None:
        return None if count is None or not math.isfinite(seconds) else \
            round(count * seconds / jobs / 60, 1)

    per_model = (mask & correct).sum(axis=1) / mask.sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TooFewTrialsWarning)
        result = longtail.estimate(mask, correct, trials.test_correct, trials.train_labels,
                                   trials.test_labels)
    step = args.step or max(128, t // 8 // 128 * 128)
    points = sorted({*prefixes(t), *range(step, t + 1, step), t})
    curve = trials_curve(trials, ids, valid, args.mem, INFL, int(attrs.get("seed", 0)),
                         args.splits, points=points)
    doubling = curve[curve["t"].isin(prefixes(t))]
    full = curve[curve["t"] == t]

    def at_t(rows) -> dict[str, Any]:
        row = rows.iloc[0]
        return {"per_half": finite(min(row["size_a"], row["size_b"]), 1),
                "jaccard": finite(row["jaccard"], 4), "jaccard_std": finite(row["jaccard_std"], 4)}

    memorized = at_t(curve_of(full, "memorized"))
    return {
        "precision": attrs.get("precision"), "m": int(mask[0].sum()), "trials": t,
        "valid_trials": int(valid.sum()), "s_per_model": finite(seconds, 3),
        "minutes_t1024": minutes(1024),
        "train_minutes": round(float(np.nansum(wall)) / jobs / 60, 2),
        "fit": round(float((mask & correct).sum() / mask.sum()), 4),
        "worst_fit": round(float(per_model.min()), 4),
        "held_out": round(float((~mask & correct).sum() / (~mask).sum()), 4),
        "test": round(float(trials.test_correct.mean()), 4),
        "mem_threshold": args.mem,
        "memorized": int(is_memorized(result.estimates, args.mem).sum()),
        **{f"memorized_{key}": value for key, value in memorized.items()},
        "pairs": {f"{infl:.2f}": {"count": len(result.pairs(args.mem, infl)),
                                  **at_t(curve_of(full, "pairs", infl))} for infl in INFL},
        "target": args.target, "min_pairs": args.min_pairs, "splits": args.splits,
        "reach": {f"{infl:.2f}": reach(curve_of(curve, "pairs", infl),
                                       curve_of(doubling, "pairs", infl), infl, args.mem,
                                       args.target, args.min_pairs, minutes)
                  for infl in HEADLINE_INFL},
        "analysis_seconds": round(time.perf_counter() - began, 1)}


def headline(numbers: dict[str, Any]) -> dict[str, Any]:
    """The fewer minutes over the headline's θ_infl, and how they were found."""
    known = [(value["minutes"], infl, value) for infl, value in numbers["reach"].items()
             if value["minutes"] is not None]
    if not known:
        return {"how": "cannot tell", "infl": None, "trials": None, "minutes": None,
                "minutes_low": None, "minutes_high": None}
    _, infl, best = min(known, key=lambda item: item[0])
    return {"how": best["how"], "infl": float(infl), "trials": best["trials"],
            "minutes": best["minutes"], "minutes_low": best["minutes_low"],
            "minutes_high": best["minutes_high"]}


# ----------------------------------------------------------------- the table

def cpu_model() -> str:
    """lscpu's model name with its family and model (a VM may call a Zen 3 and a Zen 4 alike
    "AMD EPYC") and whether it has native bf16."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()

    def field(name: str) -> str | None:
        found = re.search(rf"^{name}:\s*(.+)$", text, re.M)
        return found.group(1).strip() if found else None

    flags = set((field("Flags") or "").split())
    bf16 = "AMX" if "amx_bf16" in flags else "AVX512-BF16" if "avx512_bf16" in flags else None
    return (f"{field('Model name') or platform.machine()} (family {field('CPU family')} model "
            f"{field('Model')}, {'native bf16: ' + bf16 if bf16 else 'no native bf16'})")


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    """The frontier table, one row per candidate."""
    def number(value, digits=1):
        return "-" if value is None else f"{value:,.{digits}f}"

    def size(value):
        return "all" if value is None else f"{value:,}"

    head = rows[0]
    lines = [f"CPU: {head['cpu']}, {head['cores']} cores ({head['jobs']} training jobs side "
             f"by side); t = {head['trials']:,}; `{command}`", "",
             "| candidate | changes | n / n_test | s/model | fit on I_k (worst) | test | "
             f"memorized at θ_mem {head['mem_threshold']:g} (per half, J) | pairs at θ_infl "
             "0.15 (per half, J) | 0.20 | 0.25 | minutes until the pairs' J >= "
             f"{head['target']:g} with >= {head['min_pairs']:g} a half [interval] | how |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        what = "; ".join(f"{key}: {json.dumps(value)}" for key, value in row["changes"].items())
        if not row["base"]:   # written out in full: the keys that tell it from the others
            what = "the reference, " + "; ".join(
                f"{key}: {json.dumps(row['changes'][key])}" for key in REFERENCE_KEYS
                if key in row["changes"])
        else:
            what = f"{row['base']} + {what or '-'}"
        if row["derived_from"]:
            what += f" (from {row['derived_from']}'s trials)"
        pairs = [f"{p['count']:,} ({number(p['per_half'], 0)}, {number(p['jaccard'], 2)})"
                 for p in row["pairs"].values()]
        top = row["headline"]
        minutes = "-" if top["minutes"] is None else (
            f"{number(top['minutes'])} [{number(top['minutes_low'])}, "
            f"{number(top['minutes_high'])}] at θ {top['infl']:.2f}")
        lines.append(
            f"| {row['candidate']} | {what} | {size(row['n_train'])} / {size(row['n_test'])} | "
            f"{number(row['s_per_model'], 2)} | {number(100 * row['fit'])}% "
            f"({number(100 * row['worst_fit'])}%) | {number(100 * row['test'])}% | "
            f"{row['memorized']:,} ({number(row['memorized_per_half'], 0)}, "
            f"{number(row['memorized_jaccard'], 2)}) | {' | '.join(pairs)} | {minutes} | "
            f"{top['how']} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- a candidate's row

def describe(study: dict[str, Any], cores: int) -> dict[str, Any]:
    """What the candidate's study is, and how many jobs train it side by side."""
    train = study.get("train", {})
    threads = int(train.get("threads", 1) or 1)
    return {"jobs": max(cores // threads, 1), "dataset": study.get("dataset"),
            "arch": study.get("arch"), "n_train": study.get("n_train"),
            "n_test": study.get("n_test"), "epochs": train.get("epochs"),
            "batch_size": train.get("batch_size"), "lr": train.get("lr"),
            "schedule": train.get("schedule")}


def build(name: str, parents: dict[str, str], workdir: Path, config: Path, args, jobs: int
          ) -> dict[str, Any]:
    """Train candidate ``name`` (or build only its data file, for a row derived from its
    parent's trials; trained after all when they do not match) and read its row's numbers."""
    results, log = workdir / "results", workdir / "logs" / "frontier" / f"{name}.log"
    parent = parents.get(name)
    if parent is not None:
        seconds = snakemake(workdir, config, f"results/{name}/data.h5", args.cores, log)
        columns = test_columns(results / parent / "correctness.h5", results / name / "data.h5")
        if columns is not None:
            return {"source": "derived", "derived_from": parent, "shards": None,
                    "shards_trained": 0, "run_minutes": round(seconds / 60, 2),
                    **evidence(results / parent / "correctness.h5", columns, args, jobs)}
        print(f"{name}: its training data or test examples are not {parent}'s; training it",
              file=sys.stderr)
    before = shard_times(workdir, name, args.trials)
    seconds = snakemake(workdir, config, f"results/{name}/correctness.h5", args.cores, log)
    after = shard_times(workdir, name, args.trials)
    return {"source": "trained", "derived_from": None, "shards": len(after),
            "shards_trained": sum(after[path] != before.get(path) for path in after),
            "run_minutes": round(seconds / 60, 2),
            **evidence(results / name / "correctness.h5", None, args, jobs)}


# ----------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True,
                        help="the workflow's working directory (kept: reruns reuse its shards)")
    parser.add_argument("--candidates", type=Path,
                        default=ROOT / "benchmarks" / "frontier_candidates.yaml")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml",
                        help="where the candidates' bases are looked up")
    parser.add_argument("--only", nargs="+", help="these candidates, in this order")
    parser.add_argument("--trials", type=int, default=1024, help="t of every candidate")
    parser.add_argument("--smoke", action="store_true", help="allow t < 1,024 (tests)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--step", type=int,
                        help="trials between the prefixes the measured crossing is read at "
                             "(default: t / 8 in multiples of 128, at least 128)")
    parser.add_argument("--mem", type=float, default=DEFAULT_MEM_THRESHOLD)
    parser.add_argument("--target", type=float, default=DEFAULT_TARGET)
    parser.add_argument("--min-pairs", type=float, default=DEFAULT_MIN_PAIRS)
    parser.add_argument("--splits", type=int, default=DEFAULT_SPLITS)
    parser.add_argument("--no-derive", action="store_true",
                        help="train every candidate, n_test variants too")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    args = parser.parse_args()
    if args.trials < 1024 and not args.smoke:
        parser.error("--trials must be >= 1024 (pairs replicate from thousands of trials); "
                     "--smoke allows fewer")
    overlays, studies = read_candidates(args.candidates, args.config, args.only)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(workdir, studies, args.trials)
    parents = {} if args.no_derive else {name: parent_of(name, studies) for name in studies}
    parents = {name: parent for name, parent in parents.items()
               if parent is not None and parents.get(parent) is None}
    cpu, rows = cpu_model(), {}
    for name in [name for name in studies if name not in parents] + list(parents):
        study = describe(studies[name], args.cores)
        row = {"benchmark": "evidence_frontier", "candidate": name,
               "base": overlays[name].get(BASE_KEY), "changes": changes(overlays[name]),
               "cpu": cpu, "cores": args.cores, **study,
               **build(name, parents, workdir, config, args, study["jobs"])}
        row["headline"] = headline(row)
        rows[name] = row
        print(json.dumps(row), flush=True)
    if args.markdown:
        command = "python benchmarks/evidence_frontier.py " + " ".join(sys.argv[1:])
        args.markdown.write_text(markdown([rows[name] for name in studies], command))


if __name__ == "__main__":
    main()
