"""The ``longtail`` command line.

One ``add_<name>`` function per subcommand registers its parser and sets ``func`` to a function
``(args) -> int``; to add a subcommand, write both and append the ``add_`` function to
:data:`SUBCOMMANDS`. Errors from the stores (:class:`longtail.store.StoreError`, which names the
file) and I/O errors end the command with one line on stderr and exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable, Sequence

from longtail.estimate import DEFAULT_MIN_TRIALS
from longtail.estimates import INFLUENCE_MODES, estimate_store
from longtail.reliability import (
    DEFAULT_GRIDS,
    DEFAULT_PERMUTATIONS,
    DEFAULT_TARGET,
    read_reliability,
    reliability,
    select_reliably,
    write_reliability,
)
from longtail.select import (
    DEFAULT_CONSISTENCY_THRESHOLDS,
    DEFAULT_INFL_THRESHOLD,
    DEFAULT_MEM_THRESHOLD,
    consistency_table,
    select_pairs_file,
    write_summary,
)
from longtail.store import StoreError, atomic_path

EXIT_ERROR = 2

def add_estimate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "estimate", help="memorization and influence estimates (Algorithm 1) from a store",
        description="Estimate mem (Alg. 1 line 5) and influence (line 7) over the valid trials "
                    "of a correctness store and write estimates.h5.")
    p.add_argument("store", help="correctness store (correctness.h5)")
    p.add_argument("out", help="estimates file to write (estimates.h5)")
    p.add_argument("--influence", choices=INFLUENCE_MODES, default="same-class",
                   help="same-class pairs only (default), the full n x n_test matrix, or none")
    p.add_argument("--min-out-trials", type=int, default=DEFAULT_MIN_TRIALS, metavar="N",
                   help="warn about examples in or out of fewer than N valid trials "
                        f"(default {DEFAULT_MIN_TRIALS})")
    p.set_defaults(func=run_estimate)


def run_estimate(args: argparse.Namespace) -> int:
    attrs = estimate_store(args.store, args.out, influence=args.influence,
                           min_out_trials=args.min_out_trials)
    print(f"{args.out}: n={attrs['n']} n_test={attrs['n_test']} influence={attrs['influence']} "
          f"valid trials={attrs['n_valid_trials']}/{attrs['n_trials']} "
          f"(excluded diverged: {attrs['n_excluded_trials']}; examples with < "
          f"{attrs['min_trials']} in/out trials: {attrs['n_few_trials']})")
    return 0


def add_pairs(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pairs", help="select high-influence pairs (Section 2) and summarize them",
        description="Select pairs with mem >= --mem, infl >= --infl and equal labels.")
    p.add_argument("estimates", help="estimates.h5 written by `longtail estimate`")
    p.add_argument("out", help="pairs CSV to write")
    p.add_argument("--mem", type=float, default=DEFAULT_MEM_THRESHOLD,
                   help=f"memorization threshold (default {DEFAULT_MEM_THRESHOLD})")
    p.add_argument("--infl", type=float, default=DEFAULT_INFL_THRESHOLD,
                   help=f"influence threshold (default {DEFAULT_INFL_THRESHOLD})")
    p.add_argument("--summary", metavar="SUMMARY.json", help="also write the summary as JSON")
    p.add_argument("--reliability", metavar="RELIABILITY.json",
                   help="a report of `longtail consistency --reliability`: select at its "
                        "thresholds (--mem/--infl are then ignored) and add its split-half "
                        "Jaccard, pairs expected by chance and verdict to the summary")
    p.set_defaults(func=run_pairs)


def run_pairs(args: argparse.Namespace) -> int:
    if args.reliability:
        report = read_reliability(args.reliability)
        args.mem, args.infl = report["mem"]["used"], report["infl"]["used"]
        summary = select_reliably(args.estimates, report, args.out, args.summary)
    else:
        summary = select_pairs_file(args.estimates, args.out, args.mem, args.infl)
        if args.summary:
            write_summary(summary, args.summary)
    print(f"{args.out}: {summary['n_pairs']} pairs, {summary['n_test_examples']} test examples "
          f"({summary['pct_test_examples']:.2f}%), {summary['n_test_single_train']} influenced "
          f"by a single training example, {summary['n_train_examples']} training examples; "
          f"{summary['n_memorized']} examples with mem >= {args.mem} "
          f"({summary['pct_memorized']:.2f}%)")
    if "reliability_note" in summary:
        print(summary["reliability_note"])
    return 0


def add_consistency(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "consistency", help="selection consistency across two halves of the trials (Sec. C)",
        description="Split the valid trials into two halves, select pairs from each and write "
                    "the Jaccard similarity of the two pair sets per influence threshold.")
    p.add_argument("store", help="correctness store (correctness.h5)")
    p.add_argument("out", help="CSV to write (threshold, pairs_a, pairs_b, intersection, "
                               "jaccard)")
    p.add_argument("--thresholds", type=float, nargs="+",
                   default=list(DEFAULT_CONSISTENCY_THRESHOLDS), metavar="T",
                   help="influence thresholds (default 0.05 0.10 ... 0.50; with "
                        "--reliability the grid `auto` searches)")
    p.add_argument("--mem", type=threshold_value, default=DEFAULT_MEM_THRESHOLD,
                   help=f"memorization threshold (default {DEFAULT_MEM_THRESHOLD}; `auto` "
                        f"needs --reliability)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    p.add_argument("--min-out-trials", type=int, default=DEFAULT_MIN_TRIALS, metavar="N")
    p.add_argument("--reliability", metavar="RELIABILITY.json",
                   help="also write the reliability report (split-half Jaccard of the "
                        "memorized and pair sets, thresholds chosen by `auto`, pairs expected "
                        "by chance); needs --estimates")
    p.add_argument("--estimates", metavar="ESTIMATES.h5",
                   help="estimates.h5 of the same store (for the pairs expected by chance)")
    p.add_argument("--infl", type=threshold_value, default=DEFAULT_INFL_THRESHOLD,
                   help=f"with --reliability: influence threshold or auto (default "
                        f"{DEFAULT_INFL_THRESHOLD})")
    p.add_argument("--mem-grid", type=float, nargs="+", default=list(DEFAULT_GRIDS["mem"]),
                   metavar="T", help="with --reliability: memorization thresholds `auto` "
                                     "searches (default 0.05 ... 0.95)")
    p.add_argument("--target", type=float, default=DEFAULT_TARGET,
                   help=f"split-half Jaccard that counts as replicating (default "
                        f"{DEFAULT_TARGET}, the paper's)")
    p.add_argument("--permutations", type=int, default=DEFAULT_PERMUTATIONS, metavar="P",
                   help=f"permutations for the pairs expected by chance (default "
                        f"{DEFAULT_PERMUTATIONS})")
    p.set_defaults(func=run_consistency)


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
    if args.reliability:
        if not args.estimates:
            print("longtail consistency: error: --reliability needs --estimates",
                  file=sys.stderr)
            return EXIT_ERROR
        settings = {"mem": args.mem, "infl": args.infl, "target": args.target,
                    "grid": {"mem": args.mem_grid, "infl": args.thresholds},
                    "chance_permutations": args.permutations}
        report, table = reliability(args.store, args.estimates, settings, seed=args.seed,
                                    min_trials=args.min_out_trials)
        write_reliability(report, table, args.reliability, args.out)
        print(table.to_string(index=False))
        for name in ("mem", "infl"):
            setting = report[name]
            print(f"θ_{name} = {setting['used']:g} ({setting['mode']}): split-half Jaccard "
                  f"{setting['jaccard']}")
        print(f"pairs expected by chance: {report['chance']['at_used']:.1f}")
        return 0
    if args.mem == "auto":
        print("longtail consistency: error: --mem auto needs --reliability", file=sys.stderr)
        return EXIT_ERROR
    table = consistency_table(args.store, args.thresholds, args.mem, args.seed,
                              min_trials=args.min_out_trials)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))
    return 0


def add_models(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models", help="the architectures a study's `arch` may name",
        description="List the architecture registry with parameter counts for an input shape.")
    p.add_argument("--shape", default="1x28x28", metavar="CxHxW",
                   help="input shape (default 1x28x28, Fashion-MNIST; CIFAR: 3x32x32)")
    p.add_argument("--classes", type=int, default=10)
    p.set_defaults(func=run_models)


def run_models(args: argparse.Namespace) -> int:
    from longtail.models import ARCHITECTURES, BATCHABLE, build_model

    try:
        shape = tuple(int(side) for side in args.shape.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        print(f"longtail models: error: --shape {args.shape!r} is not CxHxW, e.g. 3x32x32",
              file=sys.stderr)
        return EXIT_ERROR
    for arch in sorted(ARCHITECTURES):
        model = build_model(arch, shape, args.classes, seed=0)  # type: ignore[arg-type]
        params = sum(p.numel() for p in model.parameters())
        method = "batched ensembles" if arch in BATCHABLE else "lockstep groups"
        print(f"{arch:10s} {params:>12,d} parameters  ({method})")
    return 0


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_estimate, add_pairs, add_consistency, add_models]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longtail",
        description="Subsampled memorization and influence estimation (Feldman & Zhang 2020).")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def _print_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   file: object = None, line: str | None = None) -> None:
    print(f"longtail: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``longtail`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _print_warning
        try:
            return args.func(args)
        except StoreError as err:
            print(f"longtail {args.command}: error: {err}", file=sys.stderr)
        except OSError as err:
            print(f"longtail {args.command}: error: {err.filename or ''}: {err.strerror or err}",
                  file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
