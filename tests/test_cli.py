"""The ``longtail`` command line: estimate, pairs, consistency and its error handling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from test_estimates import make_store, write

from longtail.cli import main
from longtail.estimates import load_influence, read_estimates
from longtail.select import CONSISTENCY_COLUMNS, PAIR_COLUMNS


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


def test_unreadable_store_is_one_line_and_exit_2(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00" * 100)
    out = tmp_path / "estimates.h5"
    assert main(["estimate", str(junk), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("longtail estimate: error: ") and str(junk) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_pairs_on_a_file_that_is_not_estimates(tmp_path: Path, store_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pairs", str(store_path), str(tmp_path / "pairs.csv")]) == 2
    err = capsys.readouterr().err
    assert "longtail pairs: error:" in err and str(store_path) in err and "mem" in err


def test_wrong_shapes_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, make_store(seed=31))
    with h5py.File(path, "a") as h5:
        del h5["train_labels"]
        h5["train_labels"] = np.zeros(7, np.int64)
    assert main(["consistency", str(path), str(tmp_path / "c.csv")]) == 2
    assert "train_labels has shape (7,)" in capsys.readouterr().err


def test_console_script_exit_code_without_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "longtail"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "longtail.cli"]
    result = subprocess.run([*command, "estimate", str(tmp_path / "missing.h5"),
                             str(tmp_path / "out.h5")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2
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
    from longtail.models import ARCHITECTURES

    assert main(["models", "--shape", "1x28x28"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == sorted(ARCHITECTURES)
    assert "mlp" in out and "535,818 parameters" in out  # 784-512-256-10
    assert main(["models", "--shape", "3x3"]) == 2
    assert "--shape '3x3' is not CxHxW" in capsys.readouterr().err


def test_consistency_reliability_then_pairs_at_its_thresholds(
        tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estimates = tmp_path / "estimates.h5"
    assert main(["estimate", str(store_path), str(estimates)]) == 0
    report, csv = tmp_path / "reliability.json", tmp_path / "consistency.csv"
    assert main(["consistency", str(store_path), str(csv), "--thresholds", "0.1", "0.2",
                 "0.3", "--mem", "0.1", "--infl", "auto", "--reliability", str(report),
                 "--estimates", str(estimates), "--min-out-trials", "1"]) == 0
    data = json.loads(report.read_text())
    assert data["infl"]["mode"] == "auto" and data["infl"]["grid"] == [0.1, 0.2, 0.3]
    assert "pairs expected by chance" in capsys.readouterr().out
    summary = tmp_path / "summary.json"
    assert main(["pairs", str(estimates), str(tmp_path / "pairs.csv"), "--reliability",
                 str(report), "--summary", str(summary)]) == 0
    written = json.loads(summary.read_text())
    assert written["infl_threshold"] == data["infl"]["used"]
    assert {"replicates", "jaccard_pairs", "n_pairs_chance"} <= set(written)
    assert "split-half Jaccard" in capsys.readouterr().out


def test_bad_threshold_and_missing_estimates(tmp_path: Path, store_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["consistency", str(store_path), str(tmp_path / "c.csv"), "--infl", "high"])
    assert "'high' is not a number in [0, 1] or auto" in capsys.readouterr().err
    assert main(["consistency", str(store_path), str(tmp_path / "c.csv"), "--reliability",
                 str(tmp_path / "r.json")]) == 2
    assert "--reliability needs --estimates" in capsys.readouterr().err
