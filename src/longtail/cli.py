"""The ``longtail`` command line.

One ``add_<name>`` function per subcommand registers its parser and options for the function
``run_<name>(args) -> int`` that runs it (whose docstring is the command's description); to add
a subcommand, write both and append the ``add_`` function to :data:`SUBCOMMANDS`. Each
``run_<name>`` imports the modules it runs inside its body, so that ``longtail --help``,
``--version`` and every subcommand load only what they use (no pandas, matplotlib or scipy
for ``estimate``; tests/test_layers.py lists these functions).

Exit status: 0 on success, 2 for a usage error (argparse: an unknown option, a missing
argument, a threshold out of range; or a :class:`UsageError`: options that do not go
together), printed one way (:func:`exit_usage`), 1 for bad data: the package's errors
(:class:`longtail.errors.LongtailError`: stores, estimates, datasets, config), which name the
file, and I/O errors end the command with one line on stderr, no traceback. Every command
but ``models`` works without torch.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
import warnings
from collections.abc import Callable, Sequence

from longtail import __version__
from longtail.config.defaults import (
    DEFAULT_CONSISTENCY_THRESHOLDS,
    DEFAULT_FORECAST,
    DEFAULT_GRIDS,
    DEFAULT_INFL_THRESHOLD,
    DEFAULT_INFLUENCE,
    DEFAULT_MEM_THRESHOLD,
    DEFAULT_MIN_PAIRS,
    DEFAULT_MIN_TRIALS,
    DEFAULT_PERMUTATIONS,
    DEFAULT_SPLITS,
    DEFAULT_TARGET,
    DEFAULT_TOP,
    INFLUENCE_MODES,
    SCORE_FORMATS,
)
from longtail.errors import LongtailError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import NoReturn

    import numpy as np

    from longtail.store.correctness import CorrectnessStore

EXIT_DATA = 1    # the input is unreadable, inconsistent or missing (the message names it)
EXIT_USAGE = 2   # argparse's status for a command line it refuses


class UsageError(LongtailError):
    """A combination of options argparse cannot check; exit status 2 (:func:`exit_usage`)."""


def exit_usage(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """The one way the command refuses a command line, argparse's own refusals and a
    :class:`UsageError` alike: the usage of ``parser``, then ``<prog>: error: <message>`` on
    stderr, and exit status 2."""
    parser.print_usage(sys.stderr)
    parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message}\n")


class Parser(argparse.ArgumentParser):
    """argparse's parser (and, as their class, its subcommands'), refusing through
    :func:`exit_usage`."""

    def error(self, message: str) -> NoReturn:
        exit_usage(self, message)


def _number(kind: type, low: float | None = None, high: float | None = None
            ) -> Callable[[str], float | int]:
    """An argparse type: ``kind`` in [low, high]; out of range is a usage error (status 2)."""
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError as err:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from err
        if (low is not None and value < low) or (high is not None and value > high) \
                or value != value:
            span = f"{low}..{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: {span}")
        return value
    parse.__name__ = kind.__name__
    return parse


THRESHOLD = _number(float, 0.0, 1.0)   # mem and infl thresholds of Section 2
COUNT = _number(int, 1)
SEED = _number(int, 0)
AT_LEAST_ZERO = _number(int, 0)



def _subcommand(subparsers: argparse._SubParsersAction, run: Callable[[argparse.Namespace], int],
                command: str | None = None, **positionals: str) -> argparse.ArgumentParser:
    """Register ``run_<name>`` as subcommand ``<name>`` (``_`` read as ``-``; or ``command``):
    the first line of its docstring is the command's line in ``longtail --help``, the rest the
    description of its own ``--help``; ``positionals`` (name: help, in order) are its
    positional arguments."""
    name = command or run.__name__.removeprefix("run_").replace("_", "-")
    summary, _, description = (run.__doc__ or "").strip().partition("\n\n")
    description = textwrap.dedent(description)  # as inspect.getdoc, without importing inspect
    p = subparsers.add_parser(name, help=summary, description=description)
    for positional, text in positionals.items():
        p.add_argument(positional, help=text)
    p.set_defaults(func=run, parser=p)
    return p


def _threshold_options(p: argparse.ArgumentParser) -> None:
    """--mem and --infl, the fixed thresholds of Section 2's selection."""
    p.add_argument("--mem", type=THRESHOLD, default=DEFAULT_MEM_THRESHOLD,
                   help=f"memorization threshold in 0..1 (default {DEFAULT_MEM_THRESHOLD})")
    p.add_argument("--infl", type=THRESHOLD, default=DEFAULT_INFL_THRESHOLD,
                   help=f"influence threshold in 0..1 (default {DEFAULT_INFL_THRESHOLD})")


def add_estimate(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_estimate,
                    store="correctness store (correctness.h5)",
                    out="estimates file to write (estimates.h5)")
    p.add_argument("--influence", choices=INFLUENCE_MODES, default=DEFAULT_INFLUENCE,
                   help="same-class pairs only (default), the full n x n_test matrix, or none")
    p.add_argument("--min-out-trials", type=COUNT, default=DEFAULT_MIN_TRIALS, metavar="N",
                   help="warn about examples in or out of fewer than N valid trials "
                        f"(default {DEFAULT_MIN_TRIALS})")
    p.add_argument("--trials", type=trial_range, metavar="START-STOP",
                   help="use only the trials with ids START..STOP-1 (e.g. 0-1024)")


def trial_range(text: str) -> tuple[int, int]:
    """A --trials argument: START-STOP with 0 <= START < STOP."""
    try:
        start, stop = (int(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not START-STOP, e.g. 0-1024") from None
    if not 0 <= start < stop:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= START < STOP")
    return start, stop


def run_estimate(args: argparse.Namespace) -> int:
    """memorization and influence estimates (Algorithm 1) from a store

    Estimate mem (Alg. 1 line 5) and influence (line 7) over the valid trials of a
    correctness store and write estimates.h5."""
    from longtail.estimators.estimates import estimate_store

    attrs = estimate_store(args.store, args.out, influence=args.influence,
                           min_out_trials=args.min_out_trials, trial_range=args.trials)
    print(f"{args.out}: n={attrs['n']} n_test={attrs['n_test']} influence={attrs['influence']} "
          f"valid trials={attrs['n_valid_trials']}/{attrs['n_trials']} "
          f"(excluded diverged: {attrs['n_excluded_trials']}; examples with < "
          f"{attrs['min_trials']} in/out trials: {attrs['n_few_trials']})")
    return 0


def add_pairs(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_pairs,
                    estimates="estimates.h5 written by `longtail estimate`",
                    out="pairs CSV to write")
    _threshold_options(p)
    p.add_argument("--summary", metavar="SUMMARY.json", help="also write the summary as JSON")
    p.add_argument("--reliability", metavar="RELIABILITY.json",
                   help="a report of `longtail consistency --reliability`: select at its "
                        "thresholds (--mem/--infl are then ignored) and add its split-half "
                        "Jaccard, pairs expected by chance and verdict to the summary")
    p.add_argument("--caption", metavar="CAPTION.rst",
                   help="also write the selection's caption as reStructuredText: the "
                        "reliability note with --reliability, otherwise that the pairs were "
                        "selected at fixed thresholds of unknown reliability")
    p.add_argument("--forecast", metavar="FORECAST.json",
                   help="with --reliability: `longtail trials-curve --forecast`'s forecasts, "
                        "added to the summary (trials_forecast) and the note")
    p.add_argument("--until", metavar="ROUND.json",
                   help="with --reliability: the last round's verdict of a study that trains "
                        "until its findings replicate, added to the summary (trials_until) "
                        "and the note")


def run_pairs(args: argparse.Namespace) -> int:
    """select high-influence pairs (Section 2) and summarize them

    Select pairs with mem >= --mem, infl >= --infl and equal labels."""
    from longtail.estimators.reliability import read_reliability
    from longtail.estimators.summary import select_fixed, select_reliably

    if args.reliability:
        report = read_reliability(args.reliability)
        args.mem, args.infl = report["mem"]["used"], report["infl"]["used"]
        extra = {name: read_reliability(path) for name, path in
                 (("forecast", args.forecast), ("until", args.until)) if path}
        summary = select_reliably(args.estimates, report, args.out, args.summary, args.caption,
                                  **extra)
    elif args.forecast or args.until:
        raise UsageError("--forecast and --until need --reliability")
    else:
        summary = select_fixed(args.estimates, args.out, args.mem, args.infl, args.summary,
                               args.caption)
    print(f"{args.out}: {summary['n_pairs']} pairs, {summary['n_test_examples']} test examples "
          f"({summary['pct_test_examples']:.2f}%), {summary['n_test_single_train']} influenced "
          f"by a single training example, {summary['n_train_examples']} training examples; "
          f"{summary['n_memorized']} examples with mem >= {args.mem} "
          f"({summary['pct_memorized']:.2f}%)")
    if "reliability_note" in summary:
        print(summary["reliability_note"])
    return 0


def add_consistency(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_consistency,
                    store="correctness store (correctness.h5)",
                    out="CSV to write (threshold, pairs_a, pairs_b, intersection, jaccard)")
    p.add_argument("--thresholds", type=THRESHOLD, nargs="+",
                   default=list(DEFAULT_CONSISTENCY_THRESHOLDS), metavar="T",
                   help="influence thresholds in 0..1 (default 0.05 0.10 ... 0.50; with "
                        "--reliability the grid `auto` searches)")
    p.add_argument("--mem", type=threshold_value, default=DEFAULT_MEM_THRESHOLD,
                   help=f"memorization threshold in 0..1 (default {DEFAULT_MEM_THRESHOLD}; "
                        f"`auto` needs --reliability)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the split (default 0)")
    p.add_argument("--min-out-trials", type=COUNT, default=DEFAULT_MIN_TRIALS, metavar="N",
                   help="warn about examples in or out of fewer than N valid trials of a half "
                        f"(default {DEFAULT_MIN_TRIALS})")
    p.add_argument("--reliability", metavar="RELIABILITY.json",
                   help="also write the reliability report (split-half Jaccard of the "
                        "memorized and pair sets, thresholds chosen by `auto`, pairs expected "
                        "by chance); needs --estimates")
    p.add_argument("--estimates", metavar="ESTIMATES.h5",
                   help="estimates.h5 of the same store (for the pairs expected by chance)")
    p.add_argument("--infl", type=threshold_value, default=DEFAULT_INFL_THRESHOLD,
                   help=f"with --reliability: influence threshold in 0..1 or auto (default "
                        f"{DEFAULT_INFL_THRESHOLD})")
    p.add_argument("--mem-grid", type=THRESHOLD, nargs="+", default=list(DEFAULT_GRIDS["mem"]),
                   metavar="T", help="with --reliability: memorization thresholds `auto` "
                                     "searches (default 0.05 ... 0.95)")
    p.add_argument("--target", type=THRESHOLD, default=DEFAULT_TARGET,
                   help=f"split-half Jaccard that counts as replicating (default "
                        f"{DEFAULT_TARGET}, the paper's)")
    p.add_argument("--permutations", type=COUNT, default=DEFAULT_PERMUTATIONS, metavar="P",
                   help=f"permutations for the pairs expected by chance (default "
                        f"{DEFAULT_PERMUTATIONS})")
    p.add_argument("--splits", type=COUNT, default=DEFAULT_SPLITS, metavar="R",
                   help=f"with --reliability: random half-splits each Jaccard is the mean over "
                        f"(default {DEFAULT_SPLITS}; the first is the split without "
                        f"--reliability)")
    p.add_argument("--min-pairs", type=AT_LEAST_ZERO, default=DEFAULT_MIN_PAIRS, metavar="N",
                   help=f"with --reliability: pairs each half must select on average for "
                        f"`auto` to choose θ_infl and the pairs to replicate (default "
                        f"{DEFAULT_MIN_PAIRS})")
    p.add_argument("--trials", type=trial_range, metavar="START-STOP",
                   help="use only the trials with ids START..STOP-1, as `longtail estimate "
                        "--trials` (give --estimates made with the same range)")


def threshold_value(text: str) -> float | str:
    """A threshold argument: a number in [0, 1] or `auto`."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in [0, 1] or auto")
    return value


def run_consistency(args: argparse.Namespace) -> int:
    """selection consistency across two halves of the trials (Sec. C)

    Split the valid trials into two halves, select pairs from each and write the Jaccard
    similarity of the two pair sets per influence threshold."""
    from longtail.estimators.estimates import trials_in_range
    from longtail.estimators.reliability import reliability, write_reliability
    from longtail.estimators.select import consistency_table
    from longtail.store.io import write_csv

    trials = None if args.trials is None else trials_in_range(args.store, args.trials)
    if args.reliability:
        if not args.estimates:
            raise UsageError("--reliability needs --estimates")
        settings = {"mem": args.mem, "infl": args.infl, "target": args.target,
                    "grid": {"mem": args.mem_grid, "infl": args.thresholds},
                    "chance_permutations": args.permutations, "splits": args.splits,
                    "min_pairs": args.min_pairs}
        report, table = reliability(args.store, args.estimates, settings, seed=args.seed,
                                    min_trials=args.min_out_trials, trials=trials)
        write_reliability(report, table, args.reliability, args.out)
        print(table.to_string(index=False))
        for name in ("mem", "infl"):
            setting = report[name]
            print(f"θ_{name} = {setting['used']:g} ({setting['mode']}): split-half Jaccard "
                  f"{setting['jaccard']}, mean of {report['splits']} splits (min "
                  f"{setting['jaccard_min']}, max {setting['jaccard_max']}); replicates: "
                  f"{setting['replicates']}")
        print(f"pairs expected by chance: {report['chance']['at_used']:.1f}")
        return 0
    if args.mem == "auto":
        raise UsageError("--mem auto needs --reliability")
    table = consistency_table(args.store, args.thresholds, args.mem, args.seed,
                              min_trials=args.min_out_trials, trials=trials)
    write_csv(args.out, table)
    print(table.to_string(index=False))
    return 0


def add_trials_curve(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_trials_curve,
                    store="correctness store (correctness.h5)",
                    out="CSV to write (t, set, mem, infl, size_a, size_b, intersection, "
                        "jaccard, jaccard_min, jaccard_max, jaccard_std, jaccard_splits, "
                        "half_trials)")
    p.add_argument("--mem", type=THRESHOLD, default=DEFAULT_MEM_THRESHOLD,
                   help=f"memorization threshold in 0..1 (default {DEFAULT_MEM_THRESHOLD})")
    p.add_argument("--thresholds", type=THRESHOLD, nargs="+",
                   default=list(DEFAULT_CONSISTENCY_THRESHOLDS), metavar="T",
                   help="influence thresholds in 0..1 (default 0.05 0.10 ... 0.50)")
    _split_options(p)
    p.add_argument("--min-out-trials", type=COUNT, default=DEFAULT_MIN_TRIALS, metavar="N",
                   help=f"warn about examples in or out of fewer than N valid trials of a half "
                        f"(default {DEFAULT_MIN_TRIALS})")
    p.add_argument("--forecast", metavar="FORECAST.json",
                   help="also write `longtail plan`'s forecasts from the curve: the memorized "
                        "set and the pairs at each --forecast-infl")
    p.add_argument("--forecast-infl", type=THRESHOLD, nargs="+", default=list(DEFAULT_FORECAST),
                   metavar="T", help=f"influence thresholds of the forecasts (default "
                                     f"{' '.join(f'{v:g}' for v in DEFAULT_FORECAST)})")
    p.add_argument("--target", type=_number(float, 0.0, 1.0), default=DEFAULT_TARGET,
                   help=f"with --forecast: the Jaccard to reach (default {DEFAULT_TARGET})")
    p.add_argument("--min-pairs", type=AT_LEAST_ZERO, default=DEFAULT_MIN_PAIRS, metavar="N",
                   help=f"with --forecast: pairs each half must select on average (default "
                        f"{DEFAULT_MIN_PAIRS})")


def _split_options(p: argparse.ArgumentParser) -> None:
    """--seed and --splits: the R random half-splits every Jaccard is the mean over."""
    p.add_argument("--seed", type=SEED, default=None,
                   help="seed of the half-splits (default: the study's seed, 0 for a store "
                        "written from arrays)")
    p.add_argument("--splits", type=COUNT, default=DEFAULT_SPLITS, metavar="R",
                   help=f"random half-splits each Jaccard is the mean over (default "
                        f"{DEFAULT_SPLITS})")


def run_trials_curve(args: argparse.Namespace) -> int:
    """split-half Jaccard of the selections against t, from the store alone

    At the prefixes t' = 128, 256, 512, ... and t of the store's trials (ids below t'), the
    mean over R random half-splits of the Jaccard of the memorized set at --mem and of the
    pairs at every --thresholds value, with the mean sizes per half."""
    from longtail.estimators.plan import curve_forecasts, plan_line, store_study
    from longtail.estimators.trials_curve import store_curve
    from longtail.store.io import write_csv, write_json

    seed = int(store_study(args.store).get("seed", 0)) if args.seed is None else args.seed
    infl = sorted({*args.thresholds, *(args.forecast_infl if args.forecast else [])})
    table = store_curve(args.store, args.mem, infl, seed, args.splits, args.min_out_trials)
    write_csv(args.out, table)
    print(table.to_string(index=False))
    if args.forecast:
        plans = curve_forecasts(args.store, table, args.mem, args.forecast_infl, args.target,
                                args.min_pairs)
        write_json(args.forecast, {"forecasts": plans})
        for plan in plans:
            print(plan_line(plan))
    return 0


def add_plan(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_plan,
                    path="correctness store (correctness.h5) or a study's results folder")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--infl", type=THRESHOLD, default=DEFAULT_INFL_THRESHOLD,
                       help=f"forecast the pairs at this influence threshold (default "
                            f"{DEFAULT_INFL_THRESHOLD})")
    which.add_argument("--memorized", action="store_true",
                       help="forecast the memorized set at --mem instead of the pairs")
    p.add_argument("--mem", type=THRESHOLD, default=DEFAULT_MEM_THRESHOLD,
                   help=f"memorization threshold in 0..1 (default {DEFAULT_MEM_THRESHOLD})")
    p.add_argument("--target", type=_number(float, 0.0, 1.0), default=DEFAULT_TARGET,
                   help=f"mean split-half Jaccard to reach, in (0, 1] (default "
                        f"{DEFAULT_TARGET}, the paper's)")
    _split_options(p)
    p.add_argument("--min-pairs", type=AT_LEAST_ZERO, default=DEFAULT_MIN_PAIRS, metavar="N",
                   help=f"pairs each half must select on average (default "
                        f"{DEFAULT_MIN_PAIRS})")
    p.add_argument("--jobs", type=COUNT, default=None, metavar="J",
                   help="parallel training jobs the minutes assume (default: this machine's "
                        "cores over the study's threads per job)")
    p.add_argument("--json", action="store_true", help="print the forecast as one JSON object")


def run_plan(args: argparse.Namespace) -> int:
    """how many trials a selection needs to replicate, and how long they take

    From the trials curve of the store (its first 128, 256, ... trials): the t at which the
    mean split-half Jaccard of the pairs at --infl (or of the memorized set, --memorized)
    reaches --target, with an interval; "reached at t = N" when the measured curve gets
    there, null ("cannot tell") when the curve does not support an extrapolation. Where the
    shards recorded their timings, also the minutes the missing trials take (method:
    docs/estimates.md)."""
    import json

    from longtail.estimators.plan import plan_line, plan_store

    if args.target <= 0:
        raise UsageError("--target must be in (0, 1]")
    plan = plan_store(args.path, "memorized" if args.memorized else "pairs", args.mem,
                      args.infl, args.target, args.seed, args.splits, args.min_pairs,
                      args.jobs)
    print(json.dumps(plan.to_dict()) if args.json else plan_line(plan))
    return 0


def add_models(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_models)
    p.add_argument("--shape", default="1x28x28", metavar="CxHxW",
                   help="input shape (default 1x28x28, Fashion-MNIST; CIFAR: 3x32x32)")
    p.add_argument("--classes", type=COUNT, default=10,
                   help="number of classes, the output width (default 10)")


def run_models(args: argparse.Namespace) -> int:
    """the architectures a study's `arch` may name

    List the architecture registry with parameter counts for an input shape."""
    try:  # imported here: torch is optional, and `longtail --help` must not load it
        from longtail.train.models import ARCHITECTURES, BATCHABLE, build_model
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in ("torch", "torchvision"):
            raise
        print("longtail models: error: needs torch (pip install 'longtail[train]')",
              file=sys.stderr)
        return EXIT_DATA

    try:
        shape = tuple(int(side) for side in args.shape.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--shape {args.shape!r} is not CxHxW, e.g. 3x32x32")
    for arch in sorted(ARCHITECTURES):
        model = build_model(arch, shape, args.classes, seed=0)  # type: ignore[arg-type]
        params = sum(p.numel() for p in model.parameters())
        method = "batched ensembles" if arch in BATCHABLE else "lockstep groups"
        print(f"{arch:10s} {params:>12,d} parameters  ({method})")
    return 0


def add_scores(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_scores,
                    estimates="estimates.h5 written by `longtail estimate`",
                    out="file to write: .csv, .parquet (needs pyarrow) or .npz; a folder "
                        "with --format cleanlab")
    p.add_argument("--store", metavar="STORE.h5",
                   help="the correctness store of these estimates: adds p_in/p_out (when the "
                        "estimates file lacks them) and the label-noise flag; required by "
                        "--format cleanlab")
    p.add_argument("--format", choices=("table", "released", "cleanlab"), default="table",
                   help="table: one column per score (default); released: the .npz layout of "
                        "the authors' released files (tr_mem, tr_labels, tt_labels, "
                        "infl_matrix_class{c}, tr_classidx_{c}, tt_classidx_{c}); cleanlab: "
                        "the folder OUT with labels.npy and pred_probs.npy (the held-out "
                        "models' class shares) for cleanlab's find_label_issues(labels, "
                        "pred_probs), plus meta.json and README.txt")


def run_scores(args: argparse.Namespace) -> int:
    """per-example scores (mem, p_in, p_out, ...) as .csv, .parquet or .npz

    Write one row per training example (index, source index, label, mem, mem_se, p_in,
    p_out, n_in, n_out, suggested label and flipped flag where known), in the format the
    extension of OUT names; or with --format released the key layout of the paper authors'
    released estimate files; or with --format cleanlab (needs --store, whose trials recorded
    train_prediction) the folder OUT holding labels.npy and pred_probs.npy, cleanlab's
    out-of-sample predicted probabilities: the share of the models trained without example i
    that predict each class (see OUT/README.txt)."""
    from longtail.estimators.released import write_released
    from longtail.estimators.scores import read_scores, write_cleanlab, write_scores

    if args.format == "cleanlab":
        if args.store is None:
            raise UsageError("--format cleanlab needs --store STORE.h5 (its per-trial "
                             "train_prediction gives the held-out predicted probabilities)")
        meta = write_cleanlab(args.estimates, args.store, args.out)
        held = meta["held_out_trials_per_example"]
        print(f"{args.out}: labels.npy, pred_probs.npy ({meta['n']} x {meta['num_classes']}) "
              f"from {meta['n_valid_trials']} valid trials, {held['min']}..{held['max']} "
              f"held out per example")
        return 0
    if args.format == "released":
        if not args.out.lower().endswith(".npz"):
            raise UsageError("--format released writes an .npz file; name OUT *.npz")
        write_released(args.estimates, args.out)
        print(f"{args.out}: released layout of {args.estimates}")
        return 0
    if not args.out.lower().endswith(SCORE_FORMATS):
        raise UsageError(f"{args.out!r}: the extension picks the format; use one of "
                         f"{', '.join(SCORE_FORMATS)}")
    frame = read_scores(args.estimates, args.store)
    write_scores(frame, args.out)
    print(f"{args.out}: {len(frame)} training examples, columns {', '.join(frame.columns)}")
    return 0


def add_explain(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_explain,
                    estimates="estimates.h5 written by `longtail estimate`")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--test", type=SEED, metavar="J", help="explain test example J")
    which.add_argument("--train", type=SEED, metavar="I", help="explain training example I")
    p.add_argument("-k", "--top", type=COUNT, default=10, metavar="K",
                   help="how many examples to list (default 10)")
    p.add_argument("--png", metavar="FILE.png",
                   help="also draw the example and the listed ones with their images")
    p.add_argument("--data", metavar="DATA.h5",
                   help="the images for --png: the study's results/{study}/data.h5, or the "
                        "dataset cache (resources/<dataset>.h5) for imported released "
                        "estimates")


def run_explain(args: argparse.Namespace) -> int:
    """top-k influencers of a test example, or influenced of a training one

    Print the k training examples with the highest influence (Alg. 1 line 7) on test example
    J, or the k test examples training example I influences most, with index, source index,
    label, infl ± se (and mem ± se)."""
    from longtail.estimators.estimates import read_estimates
    from longtail.reporting.explain import (
        class_names,
        describe,
        draw_explanation,
        format_table,
        influenced,
        influencers,
    )
    from longtail.reporting.plots.style import figure_style
    from longtail.store.io import atomic_path

    if args.png and not args.data:
        raise UsageError("--png needs --data (the study data file or dataset cache)")
    split, index = ("test", args.test) if args.test is not None else ("train", args.train)
    table = influencers(args.estimates, index, args.top) if split == "test" \
        else influenced(args.estimates, index, args.top)
    heading = "training examples that influence" if split == "test" \
        else "test examples influenced by"
    classes = class_names(args.data) if args.data else None
    print(f"{heading} {describe(read_estimates(args.estimates), split, index, classes)}:")
    print(format_table(table))
    if args.png:
        with figure_style():
            fig = draw_explanation(args.estimates, args.data, split, index, table)
            with atomic_path(args.png) as tmp:
                fig.savefig(tmp, format="png", dpi=150)
        print(f"{args.png}: drawn")
    return 0


def add_explorer(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_explorer,
                    estimates="estimates.h5 written by `longtail estimate`",
                    out="the site's index.html (data.js, sprites/, figures/ go beside it)")
    p.add_argument("--study", default="study", help="the study's name, shown on every page")
    p.add_argument("--data", metavar="DATA.h5",
                   help="the study data (results/{study}/data.h5): thumbnails, class names, "
                        "label noise; without it pages show indices and values only")
    for name, what in (("pairs", "pairs.csv of `longtail pairs`"),
                       ("summary", "summary.json of `longtail pairs`"),
                       ("about", "about.json, the study's description"),
                       ("reliability", "reliability.json of `longtail consistency`")):
        p.add_argument(f"--{name}", metavar=name.upper(), help=what)
    p.add_argument("--figures", nargs="*", default=[], metavar="PNG",
                   help="figures to copy into the site and link from its front page")
    p.add_argument("-k", "--top", type=COUNT, default=DEFAULT_TOP, metavar="K",
                   help=f"influencers / influenced stored per example (default {DEFAULT_TOP})")


def run_explorer(args: argparse.Namespace) -> int:
    """a static website to browse a study's examples and estimates

    Write a static explorer of the study (index.html, data.js, PNG sprite sheets): every
    training and test example with its thumbnail, labels and estimates, the top-k influence
    per example and the selected pairs. It opens from file:// or any static host, offline."""
    from longtail.reporting.explorer import write_explorer

    sizes = write_explorer(args.estimates, args.out, study=args.study, data_path=args.data,
                           pairs_path=args.pairs, summary_path=args.summary,
                           about_path=args.about, reliability_path=args.reliability,
                           figures=args.figures, k=args.top)
    print(f"{args.out}: {sizes['total'] / 1e6:.2f} MB (" +
          ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in sizes.items()
                    if name != "total") + ")")
    return 0


def add_import(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import", help="correctness arrays of other tools -> a correctness store",
        description="Read correctness arrays in a layout other tools write and write a "
                    "correctness store for `longtail estimate`.")
    layouts = p.add_subparsers(dest="layout", required=True, metavar="LAYOUT")
    demo = _subcommand(layouts, run_import_demo, command="demo",
                       npz="the demo's arrays saved with np.savez",
                       out="correctness store to write (correctness.h5)")
    _label_options(demo, required=False)
    dm = _subcommand(layouts, run_import_datamodels, command="datamodels",
                     masks="masks.npy, (t, n) bool: example i in trial k's subset",
                     test_margins=".npy, (t, n_test) margins on the test set",
                     out="correctness store to write (correctness.h5)")
    dm.add_argument("--train-margins", required=True, metavar="FILE.npy",
                    help="(t, n) margins on the training set (memorization needs them)")
    _label_options(dm, required=True)


def _label_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--train-labels", required=required, metavar="FILE.npy",
                   help="(n,) integer labels of the training examples")
    p.add_argument("--test-labels", required=required, metavar="FILE.npy",
                   help="(n_test,) integer labels of the test examples")
    p.add_argument("--dataset", default="custom", help="name recorded in the store "
                                                       "(default custom)")


def _labels(args: argparse.Namespace) -> dict[str, np.ndarray]:
    from longtail.store.importers import load_array

    return {name: load_array(path) for name, path in (("train_labels", args.train_labels),
                                                      ("test_labels", args.test_labels)) if path}


def _report_store(out: str, store: CorrectnessStore) -> int:
    t, n = store.mask.shape
    print(f"{out}: t={t} trials, n={n}, n_test={store.test_correct.shape[1]}")
    return 0


def run_import_demo(args: argparse.Namespace) -> int:
    """the paper authors' public MNIST demo (masks + per-trial correctness)

    An .npz with trainset_mask (t, n), trainset_correctness (t, n) and testset_correctness
    (t, n_test), as the authors' demo stacks them, and the labels (train_labels/test_labels in
    the file or given here)."""
    from longtail.store.importers import import_demo

    store = import_demo(args.npz, args.out, _labels(args), {"dataset": args.dataset})
    return _report_store(args.out, store)


def run_import_datamodels(args: argparse.Namespace) -> int:
    """datamodels/TRAK: masks.npy + per-trial margins (correct = margin > 0)

    masks.npy (t, n) bool and margin matrices (t, n_test) for the test set and (t, n) for the
    training set; an example counts as correct when its margin is > 0."""
    from longtail.store.importers import import_datamodels

    labels = _labels(args)
    store = import_datamodels(args.masks, args.test_margins, args.train_margins,
                              labels["train_labels"], labels["test_labels"], args.out,
                              {"dataset": args.dataset})
    return _report_store(args.out, store)


def add_import_released(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_import_released,
                    npz="released file, e.g. cifar100_infl_matrix.npz",
                    out="estimates file to write (estimates.h5)")
    p.add_argument("--dataset",
                   help="dataset name recorded in the file (e.g. cifar100; default: that of "
                        "--data, else released)")
    p.add_argument("--data", metavar="DATA.h5",
                   help="the study data (results/{study}/data.h5) the file describes: labels "
                        "checked against it, its original indices recorded as source indices")


def run_import_released(args: argparse.Namespace) -> int:
    """the paper authors' released estimates (.npz) -> estimates.h5

    Read a released estimate file (tr_mem, tr_labels, tt_labels and per class
    infl_matrix_class{c}, tr_classidx_{c}, tt_classidx_{c}) into the estimates format, for
    `longtail pairs`, `scores`, `explain` and the workflow's figures and tables. Standard
    errors are NaN and trial counts -1: the released files hold neither."""
    from longtail.data import load_study_data
    from longtail.estimators.released import import_released

    data = load_study_data(args.data) if args.data else None
    dataset = args.dataset or (data.dataset if data is not None else "released")
    estimates = import_released(args.npz, args.out, {"dataset": dataset}, data=data)
    print(f"{args.out}: n={len(estimates.mem)} n_test={len(estimates.test_labels)} "
          f"from {args.npz}")
    return 0


def add_agreement(subparsers: argparse._SubParsersAction) -> None:
    p = _subcommand(subparsers, run_agreement, a="first estimates.h5", b="second estimates.h5")
    _threshold_options(p)


def run_agreement(args: argparse.Namespace) -> int:
    """how well two estimates of the same examples agree

    Compare two estimates files of the same training examples (two runs, two models, two
    ranges of trials): correlation of mem, Jaccard of the memorized sets and of the pairs
    selected at the same thresholds, and the share of examples whose mem differ by at most 1.96
    standard errors. Prints one JSON line."""
    import json

    from longtail.estimators.agreement import agreement_files

    print(json.dumps(agreement_files(args.a, args.b, args.mem, args.infl)))
    return 0


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_estimate, add_pairs, add_consistency, add_trials_curve, add_plan, add_agreement,
    add_scores, add_explain, add_explorer, add_import, add_import_released, add_models]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="longtail",
        description="Subsampled memorization and influence estimation (Feldman & Zhang 2020).",
        epilog="Exit status: 0 success, 1 bad or missing data, 2 usage error.")
    parser.add_argument("--version", action="version", version=f"longtail {__version__}",
                        help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def _print_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   file: object = None, line: str | None = None) -> None:
    print(f"longtail: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``longtail`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _print_warning
        try:
            return args.func(args)
        except UsageError as err:
            exit_usage(args.parser, str(err))
        except LongtailError as err:
            print(f"longtail {args.command}: error: {err}", file=sys.stderr)
        except OSError as err:
            print(f"longtail {args.command}: error: {err.filename or ''}: {err.strerror or err}",
                  file=sys.stderr)
    return EXIT_DATA


if __name__ == "__main__":
    sys.exit(main())
