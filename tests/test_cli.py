"""The ``longtail`` command line: estimate, pairs, consistency and its error handling."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from fabricate import synthetic_cache
from test_estimates import make_store, write
from test_released import fabricated

import longtail
from longtail.cli import main
from longtail.config.errors import ConfigError
from longtail.data import DataError, load_study_data, make_study_data
from longtail.errors import LongtailError
from longtail.estimators import agreement as compare
from longtail.estimators.estimates import load_influence, read_estimates
from longtail.estimators.select import CONSISTENCY_COLUMNS, PAIR_COLUMNS
from longtail.store.correctness import StoreError


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return write(tmp_path, make_store(seed=30, t=200, n=50, n_test=20, diverged=(4,)))


def test_estimate_then_pairs(tmp_path: Path, store_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results" / "estimates.h5"
    assert main(["estimate", str(store_path), str(out)]) == 0
    assert "excluded diverged: 1" in capsys.readouterr().out
    assert read_estimates(out).attrs["influence"] == "same-class"
    csv, summary = tmp_path / "pairs.csv", tmp_path / "summary.json"
    assert main(["pairs", str(out), str(csv), "--mem", "0.1", "--infl", "0.2",
                 "--summary", str(summary)]) == 0
    pairs = pd.read_csv(csv)
    assert list(pairs.columns) == list(PAIR_COLUMNS)
    assert len(pairs) > 0 and (pairs["mem"] >= 0.1).all() and (pairs["infl"] >= 0.2).all()
    data = json.loads(summary.read_text())
    assert data["n_pairs"] == len(pairs)
    assert (data["mem_threshold"], data["infl_threshold"]) == (0.1, 0.2)
    assert data["n_excluded_trials"] == 1
    assert f"{len(pairs)} pairs" in capsys.readouterr().out


def test_estimate_full_and_min_out_trials(tmp_path: Path, store_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "estimates.h5"
    assert main(["estimate", str(store_path), str(out), "--influence", "full",
                 "--min-out-trials", "1000"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("longtail: warning: 50 of 50 training examples") and \
        len(err.strip().splitlines()) == 1
    assert read_estimates(out).attrs["min_trials"] == 1000
    assert np.isfinite(load_influence(out, np.arange(50), np.arange(20))).all()


def test_consistency(tmp_path: Path, store_path: Path) -> None:
    out = tmp_path / "consistency.csv"
    assert main(["consistency", str(store_path), str(out), "--thresholds", "0.1", "0.2",
                 "--mem", "0.1", "--seed", "3", "--min-out-trials", "1"]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == list(CONSISTENCY_COLUMNS)
    assert table["threshold"].tolist() == [0.1, 0.2]


def test_unreadable_store_is_one_line_and_exit_1(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00" * 100)
    out = tmp_path / "estimates.h5"
    assert main(["estimate", str(junk), str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("longtail estimate: error: ") and str(junk) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_pairs_on_a_file_that_is_not_estimates(tmp_path: Path, store_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pairs", str(store_path), str(tmp_path / "pairs.csv")]) == 1
    err = capsys.readouterr().err
    assert "longtail pairs: error:" in err and str(store_path) in err and "mem" in err


def test_wrong_shapes_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, make_store(seed=31))
    with h5py.File(path, "a") as h5:
        del h5["train_labels"]
        h5["train_labels"] = np.zeros(7, np.int64)
    assert main(["consistency", str(path), str(tmp_path / "c.csv")]) == 1
    assert "train_labels has shape (7,)" in capsys.readouterr().err


def _package_exception_classes() -> list[type[BaseException]]:
    """Every exception class (warnings aside) defined in a module of the package."""
    found = []
    for info in pkgutil.walk_packages(longtail.__path__, "longtail."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, BaseException)
                    and not issubclass(value, Warning) and value.__module__ == info.name):
                found.append(value)
    return found


def test_every_error_of_the_package_is_a_longtail_error() -> None:
    classes = _package_exception_classes()
    names = {cls.__name__ for cls in classes}
    assert {"ConfigError", "DataError", "StoreError", "EstimatesError"} <= names
    assert [cls for cls in classes if not issubclass(cls, LongtailError)] == []
    # Their second base stays, so ``except ValueError`` / ``except RuntimeError`` still work.
    assert issubclass(ConfigError, ValueError) and issubclass(StoreError, ValueError)
    assert issubclass(DataError, RuntimeError)


def test_a_longtail_error_is_exit_1_with_its_message(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(*args: object) -> None:
        raise ConfigError("studies.tiny.n_train = 7 is larger than the dataset")

    monkeypatch.setattr(compare, "agreement_files", refuse)  # run_agreement imports it
    assert main(["agreement", "a.h5", "b.h5"]) == 1
    err = capsys.readouterr().err
    assert err == ("longtail agreement: error: studies.tiny.n_train = 7 is larger than the "
                   "dataset\n")


def test_console_script_exit_code_without_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "longtail"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "longtail.cli"]
    result = subprocess.run([*command, "estimate", str(tmp_path / "missing.h5"),
                             str(tmp_path / "out.h5")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 1
    assert "missing.h5" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["estimate"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    for command in ("estimate", "pairs", "consistency"):
        assert command in usage


def test_models_lists_the_registry(capsys):
    from longtail.cli import main
    from longtail.train.models import ARCHITECTURES

    assert main(["models", "--shape", "1x28x28"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == sorted(ARCHITECTURES)
    assert "mlp" in out and "535,818 parameters" in out  # 784-512-256-10
    with pytest.raises(SystemExit) as exc:
        main(["models", "--shape", "3x3"])
    assert exc.value.code == 2
    assert "longtail models: error: --shape '3x3' is not CxHxW" in capsys.readouterr().err


def test_consistency_reliability_then_pairs_at_its_thresholds(
        tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estimates = tmp_path / "estimates.h5"
    assert main(["estimate", str(store_path), str(estimates)]) == 0
    report, csv = tmp_path / "reliability.json", tmp_path / "consistency.csv"
    assert main(["consistency", str(store_path), str(csv), "--thresholds", "0.1", "0.2",
                 "0.3", "--mem", "0.1", "--infl", "auto", "--reliability", str(report),
                 "--estimates", str(estimates), "--min-out-trials", "1", "--splits", "3",
                 "--min-pairs", "1"]) == 0
    data = json.loads(report.read_text())
    assert data["infl"]["mode"] == "auto" and data["infl"]["grid"] == [0.1, 0.2, 0.3]
    assert (data["splits"], data["min_pairs"]) == (3, 1)
    assert "pairs expected by chance" in capsys.readouterr().out
    summary = tmp_path / "summary.json"
    caption = tmp_path / "selection.rst"
    assert main(["pairs", str(estimates), str(tmp_path / "pairs.csv"), "--reliability",
                 str(report), "--summary", str(summary), "--caption", str(caption)]) == 0
    written = json.loads(summary.read_text())
    assert written["infl_threshold"] == data["infl"]["used"]
    assert {"replicates", "jaccard_pairs", "n_pairs_chance"} <= set(written)
    assert "split-half Jaccard" in capsys.readouterr().out
    assert caption.read_text() == written["reliability_note"] + "\n"
    # Without a reliability report (released estimates, the last layer): fixed thresholds.
    assert main(["pairs", str(estimates), str(tmp_path / "fixed.csv"), "--mem", "0.25",
                 "--infl", "0.15", "--caption", str(caption)]) == 0
    assert caption.read_text().startswith(
        "Pairs selected at the fixed thresholds mem >= 0.25 and infl >= 0.15; their "
        "split-half reliability is unknown")


def test_bad_threshold_and_missing_estimates(tmp_path: Path, store_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["consistency", str(store_path), str(tmp_path / "c.csv"), "--infl", "high"])
    assert "'high' is not a number in [0, 1] or auto" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["consistency", str(store_path), str(tmp_path / "c.csv"), "--reliability",
              str(tmp_path / "r.json")])
    assert exc.value.code == 2  # the usage, then the error, as argparse refuses a command line
    err = capsys.readouterr().err
    assert err.startswith("usage: longtail consistency")
    assert "longtail consistency: error: --reliability needs --estimates" in err
# ----------------------------------------------------------------- ready to reuse (issue 14)

def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from longtail import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"longtail {__version__}"


def _actions(parser) -> list:
    """Every option of the parser and its subcommands, recursively, with its parser's prog."""
    import argparse

    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _actions(sub)
        elif action.option_strings and action.dest != "help":
            found.append((parser.prog, action))
    return found


def test_every_option_has_help() -> None:
    from longtail.cli import build_parser

    actions = _actions(build_parser())
    assert len(actions) > 20
    missing = [(prog, a.option_strings) for prog, a in actions if not a.help]
    assert missing == []


@pytest.mark.parametrize("argv", [
    ["pairs", "e.h5", "p.csv", "--mem", "1.5"],
    ["pairs", "e.h5", "p.csv", "--infl", "-0.1"],
    ["pairs", "e.h5", "p.csv", "--infl", "nan"],
    ["consistency", "s.h5", "c.csv", "--thresholds", "0.1", "2"],
    ["estimate", "s.h5", "e.h5", "--min-out-trials", "0"],
    ["explain", "e.h5", "--test", "-1"],
    ["explain", "e.h5", "--test", "1", "--train", "2"],
    ["explain", "e.h5"],
    ["scores", "e.h5", "out.txt"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(argv: list[str], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([a if not a.endswith((".h5", ".csv", ".txt")) else str(tmp_path / a)
              for a in argv])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.fixture
def estimates_path(tmp_path: Path, store_path: Path) -> Path:
    out = tmp_path / "estimates.h5"
    assert main(["estimate", str(store_path), str(out), "--min-out-trials", "1"]) == 0
    return out


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_scores(tmp_path: Path, store_path: Path, estimates_path: Path, suffix: str) -> None:
    from longtail.estimators.scores import SCORE_COLUMNS

    est = read_estimates(estimates_path)
    plain, full = tmp_path / f"plain{suffix}", tmp_path / f"full{suffix}"
    assert main(["scores", str(estimates_path), str(plain)]) == 0
    assert main(["scores", str(estimates_path), str(full), "--store", str(store_path)]) == 0
    if suffix == ".csv":
        a, b = pd.read_csv(plain), pd.read_csv(full)
    else:
        a, b = (pd.DataFrame(dict(np.load(p))) for p in (plain, full))
    # estimates.h5 records p_in/p_out; the store adds the flag (no predictions recorded in
    # this store, so no suggested label)
    assert list(a.columns) == [c for c in SCORE_COLUMNS if c not in ("suggested_label",
                                                                      "flipped")]
    assert list(b.columns) == [c for c in SCORE_COLUMNS if c != "suggested_label"]
    np.testing.assert_allclose(a["p_in"], b["p_in"], rtol=1e-6)
    np.testing.assert_allclose(a["mem"], est.mem, rtol=1e-6)
    np.testing.assert_array_equal(a["n_in"], est.n_in)
    np.testing.assert_allclose(b["p_in"] - b["p_out"], est.mem, atol=1e-6)
    assert not b["flipped"].any()


def test_scores_parquet_without_pyarrow_is_a_clear_error(
        tmp_path: Path, estimates_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyarrow" else real(name, *a))
    out = tmp_path / "s.parquet"
    assert main(["scores", str(estimates_path), str(out)]) == 1
    assert "needs pyarrow" in capsys.readouterr().err and not out.exists()


def test_scores_fill_optional_estimates_datasets(tmp_path: Path, estimates_path: Path) -> None:
    n = len(read_estimates(estimates_path).mem)
    with h5py.File(estimates_path, "a") as h5:
        for name in ("p_in", "p_out", "suggested_label", "suggested_label_share"):
            if name in h5:
                del h5[name]
        h5["p_in"] = np.full(n, 0.75)
        h5["p_out"] = np.full(n, 0.5)
        h5["suggested_label"] = np.where(np.arange(n) % 2, 2, -1)
    out = tmp_path / "s.csv"
    assert main(["scores", str(estimates_path), str(out)]) == 0
    frame = pd.read_csv(out)
    assert (frame["p_in"] == 0.75).all() and (frame["p_out"] == 0.5).all()
    assert frame["suggested_label"].isna().sum() == (n + 1) // 2
    assert (frame["suggested_label"].dropna() == 2).all()


def test_released_round_trip(tmp_path: Path, estimates_path: Path) -> None:
    """ours -> released layout -> ours keeps mem, labels and every same-class infl value, and
    the released layout -> ours -> released layout is the identity."""
    released = tmp_path / "released.npz"
    assert main(["scores", str(estimates_path), str(released), "--format", "released"]) == 0
    back = tmp_path / "back.h5"
    assert main(["import-released", str(released), str(back), "--dataset", "tiny"]) == 0
    a, b = read_estimates(estimates_path), read_estimates(back)
    np.testing.assert_array_equal(a.mem, b.mem)
    np.testing.assert_array_equal(a.train_labels, b.train_labels)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    assert b.attrs["dataset"] == "tiny" and np.isnan(b.mem_se).all() and (b.n_in == -1).all()
    train, test = np.arange(len(a.mem)), np.arange(len(a.test_labels))
    np.testing.assert_array_equal(load_influence(estimates_path, train, test),
                                  load_influence(back, train, test))
    again = tmp_path / "again.npz"
    assert main(["scores", str(back), str(again), "--format", "released"]) == 0
    first, second = np.load(released), np.load(again)
    assert sorted(first.files) == sorted(second.files)
    assert {"tr_mem", "tr_labels", "tt_labels", "infl_matrix_class0", "tr_classidx_0",
            "tt_classidx_0"} <= set(first.files)
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
    csv = tmp_path / "pairs.csv"
    assert main(["pairs", str(back), str(csv), "--mem", "0.1", "--infl", "0.2"]) == 0
    ours = tmp_path / "ours.csv"
    assert main(["pairs", str(estimates_path), str(ours), "--mem", "0.1", "--infl", "0.2"]) == 0
    cols = ["train_index", "test_index", "mem", "infl"]
    pd.testing.assert_frame_equal(pd.read_csv(csv)[cols], pd.read_csv(ours)[cols])


def test_import_released_with_the_study_data(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--data (what the workflow's rule passes): labels checked against the study data, its
    source indices and dataset recorded."""
    npz = fabricated(tmp_path / "r.npz")
    with np.load(npz) as arrays:
        train_labels, test_labels = arrays["tr_labels"], arrays["tt_labels"]
    synthetic_cache(tmp_path / "cache.h5", train_labels, test_labels, 3, dataset="cifar100")
    make_study_data(tmp_path / "cache.h5", tmp_path / "data.h5", n_train=None, n_test=None,
                    label_noise=0.0, seed=0)
    data = load_study_data(tmp_path / "data.h5")
    out = tmp_path / "e.h5"
    assert main(["import-released", str(npz), str(out), "--data",
                 str(tmp_path / "data.h5")]) == 0
    est = read_estimates(out)
    assert est.attrs["dataset"] == "cifar100"
    np.testing.assert_array_equal(est.train_source_index, data.train_source_index)
    make_study_data(tmp_path / "cache.h5", tmp_path / "part.h5", n_train=6, n_test=None,
                    label_noise=0.0, seed=0)
    assert main(["import-released", str(npz), str(tmp_path / "x.h5"), "--data",
                 str(tmp_path / "part.h5")]) == 1
    assert "does not match the study data" in capsys.readouterr().err


def test_python_dash_m_longtail_is_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "longtail", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.startswith("longtail ")


# What a fresh interpreter may not load: `import longtail`, `longtail --help` and `--version`
# start without numpy (longtail.config.defaults holds what the parser shows); `longtail estimate`
# runs on numpy and h5py alone.
HEAVY = ("pandas", "matplotlib", "scipy.stats", "torch")
LOADED = "loaded:"


def loaded_by(*argv: str, code: str = "") -> set[str]:
    """The modules of ``HEAVY`` plus numpy and h5py in ``sys.modules`` of a fresh interpreter
    after ``code`` or, with ``argv``, after ``python -m longtail ARGV``."""
    if argv:
        code = (f"sys.argv = ['longtail', *{list(argv)!r}]\n"
                "try:\n    runpy.run_module('longtail', run_name='__main__', alter_sys=True)\n"
                "except SystemExit as exit:\n    assert not exit.code, exit.code\n")
    probe = (f"import runpy, sys\n{code}\n"
             f"print({LOADED!r}, *[m for m in {(*HEAVY, 'numpy', 'h5py')!r} "
             f"if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    (line,) = [line for line in out.splitlines() if line.startswith(LOADED)]
    return set(line.split()[1:])


@pytest.mark.parametrize("argv", [("--help",), ("--version",), ("estimate", "--help")])
def test_help_and_version_load_nothing_heavy(argv: tuple[str, ...]) -> None:
    assert loaded_by(*argv) == set()


def test_import_longtail_loads_nothing_heavy() -> None:
    assert loaded_by(code="import longtail") == set()
    # the API is there on first use
    assert loaded_by(code="import longtail\nlongtail.estimate") >= {"numpy", "pandas"}


def test_estimate_loads_no_pandas_matplotlib_scipy_or_torch(tmp_path: Path,
                                                           store_path: Path) -> None:
    loaded = loaded_by("estimate", str(store_path), str(tmp_path / "e.h5"), "--influence",
                       "full")
    assert (tmp_path / "e.h5").exists()
    assert loaded == {"numpy", "h5py"}


def test_the_probe_sees_a_heavy_import() -> None:
    assert loaded_by(code="import pandas") >= {"pandas", "numpy"}


def test_import_released_refuses_a_bad_file(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, tr_mem=np.zeros(4), tr_labels=np.array([0, 0, 1, 1]),
             tt_labels=np.array([0, 1]), infl_matrix_class0=np.zeros((2, 1)),
             tr_classidx_0=np.array([0, 2]), tt_classidx_0=np.array([0]))
    assert main(["import-released", str(bad), str(tmp_path / "e.h5")]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "tr_classidx_0 lists examples whose label is not 0" in err


def test_explain(tmp_path: Path, estimates_path: Path,
                 capsys: pytest.CaptureFixture[str]) -> None:
    from longtail.reporting.explain import influenced, influencers

    est = read_estimates(estimates_path)
    table = influencers(estimates_path, 3, k=4)
    label = est.test_labels[3]
    candidates = np.flatnonzero(est.train_labels == label)
    infl = load_influence(estimates_path, candidates, [3])[:, 0]
    assert table["train_index"].tolist() == candidates[np.argsort(-infl, kind="stable")][
        :4].tolist()
    assert (table["label"] == label).all() and table["infl"].is_monotonic_decreasing
    assert main(["explain", str(estimates_path), "--test", "3", "-k", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("training examples that influence test example 3")
    assert "infl ± se" in out and "mem ± se" in out
    assert len(out.strip().splitlines()) == 2 + 4
    back = influenced(estimates_path, int(table["train_index"][0]), k=50)
    assert 3 in back["test_index"].tolist()
    assert main(["explain", str(estimates_path), "--train", "0", "-k", "3"]) == 0
    assert "test examples influenced by train example 0" in capsys.readouterr().out
    assert main(["explain", str(estimates_path), "--test", "999"]) == 1
    assert "test index 999 is outside 0..19" in capsys.readouterr().err


def test_explain_png(tmp_path: Path, estimates_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    est = read_estimates(estimates_path)
    n, n_test = len(est.mem), len(est.test_labels)
    data = tmp_path / "data.h5"
    rng = np.random.default_rng(0)
    with h5py.File(data, "w") as h5:
        h5["x_train"] = rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8)
        h5["x_test"] = rng.integers(0, 255, (n_test, 8, 8, 3), dtype=np.uint8)
        h5["classes"] = np.array(["a", "b", "c"], dtype=h5py.string_dtype())
        h5.attrs["complete"] = True  # as longtail.store.h5 marks every file it writes
    png = tmp_path / "explain.png"
    assert main(["explain", str(estimates_path), "--test", "2", "-k", "3", "--png", str(png),
                 "--data", str(data)]) == 0
    label = int(est.test_labels[2])
    assert f"label {label} ({'abc'[label]})" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit) as exc:
        main(["explain", str(estimates_path), "--test", "2", "--png", str(png)])
    assert exc.value.code == 2


def test_scores_parquet(tmp_path: Path, estimates_path: Path) -> None:
    pytest.importorskip("pyarrow")  # the optional extra 'parquet'
    out = tmp_path / "s.parquet"
    assert main(["scores", str(estimates_path), str(out)]) == 0
    np.testing.assert_array_equal(pd.read_parquet(out)["mem"], read_estimates(estimates_path).mem)


def test_agreement_of_trial_ranges(tmp_path: Path, store_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Estimates of the same trials agree exactly; of disjoint halves, mostly within their
    standard errors (the store's correctness depends on the subsets only through mem)."""
    outs = {}
    for name, trials in (("all", None), ("first", "0-100"), ("second", "100-200"),
                         ("first_again", "0-100")):
        outs[name] = tmp_path / f"{name}.h5"
        extra = ["--trials", trials] if trials else []
        assert main(["estimate", str(store_path), str(outs[name]), "--min-out-trials", "1",
                     *extra]) == 0
    capsys.readouterr()
    assert main(["agreement", str(outs["first"]), str(outs["first_again"])]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["identical"] and same["jaccard_memorized"] == 1.0
    assert same["mem_abs_difference_max"] == 0.0 and same["trials_a"] == 99  # 4 diverged
    assert main(["agreement", str(outs["first"]), str(outs["second"])]) == 0
    halves = json.loads(capsys.readouterr().out)
    assert not halves["identical"] and halves["trials_b"] == 100
    assert halves["mem_within_1.96_se"] > 0.85
    assert 0 < halves["pearson"] < 1
    with pytest.raises(SystemExit):
        main(["estimate", str(store_path), str(tmp_path / "x.h5"), "--trials", "5-5"])
    assert "need 0 <= START < STOP" in capsys.readouterr().err
    assert main(["estimate", str(store_path), str(tmp_path / "x.h5"), "--trials",
                 "900-1000"]) == 1
    assert "no trial with id in [900, 1000)" in capsys.readouterr().err


def test_consistency_on_a_trial_range_equals_it_on_a_store_of_those_trials(
        tmp_path: Path) -> None:
    """`--trials` (estimate and consistency) reads a prefix of a longer run exactly as a
    study of that many trials would (docs/results.md: how many trials the pairs need)."""
    whole = make_store(seed=31, t=240, n=40, n_test=16)
    long_path = write(tmp_path, whole, "long.h5")
    short_path = write(tmp_path, dataclasses.replace(whole, trials=whole.trials.take(
        slice(0, 160))), "short.h5")
    reports = []
    for name, store, extra in (("a", long_path, ["--trials", "0-160"]), ("b", short_path, [])):
        estimates, report = tmp_path / f"{name}.h5", tmp_path / f"{name}.json"
        assert main(["estimate", str(store), str(estimates), *extra]) == 0
        assert main(["consistency", str(store), str(tmp_path / f"{name}.csv"), "--thresholds",
                     "0.1", "0.2", "--mem", "0.1", "--infl", "auto", "--reliability",
                     str(report), "--estimates", str(estimates), "--min-out-trials", "1",
                     *extra]) == 0
        reports.append(json.loads(report.read_text()))
    assert reports[0] == reports[1] and reports[0]["half_trials"] == [80, 80]
    assert (pd.read_csv(tmp_path / "a.csv")).equals(pd.read_csv(tmp_path / "b.csv"))
