"""Bring your own correctness (issue 14): the five-array store, the Python API and the
importers give the estimates of the full store; the package works without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from test_estimates import make_store, write

import longtail
from longtail.cli import main
from longtail.estimators.estimates import estimate_store, load_influence, read_estimates
from longtail.estimators.select import select_pairs_file
from longtail.store.correctness import OPTIONAL_DEFAULTS, REQUIRED_DATASETS, read_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def full_store(tmp_path: Path) -> Path:
    return write(tmp_path, make_store(seed=7, t=160, n=45, n_test=18, diverged=()))


def five_arrays(full: Path, out: Path) -> Path:
    """A copy of ``full`` with only the required datasets and no attributes."""
    with h5py.File(full, "r") as src, h5py.File(out, "w") as dst:
        for name in REQUIRED_DATASETS:
            dst[name] = src[name][()]
    return out


def test_five_array_store_and_api_equal_the_full_store(tmp_path: Path,
                                                      full_store: Path) -> None:
    small = five_arrays(full_store, tmp_path / "five.h5")
    for mode in ("same-class", "full"):
        estimate_store(full_store, tmp_path / f"full-{mode}.h5", influence=mode)
        estimate_store(small, tmp_path / f"five-{mode}.h5", influence=mode)
        a, b = (read_estimates(tmp_path / f"{kind}-{mode}.h5") for kind in ("full", "five"))
        for name in ("mem", "mem_se", "n_in", "n_out", "train_labels", "test_labels"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        train, test = np.arange(len(a.mem)), np.arange(len(a.test_labels))
        np.testing.assert_array_equal(load_influence(tmp_path / f"full-{mode}.h5", train, test),
                                      load_influence(tmp_path / f"five-{mode}.h5", train, test))
        store = read_store(full_store)
        result = longtail.estimate(store.mask, store.train_correct, store.test_correct,
                                   store.train_labels, store.test_labels, influence_mode=mode)
        frame = result.to_frame()
        np.testing.assert_array_equal(frame["mem"], a.mem)
        np.testing.assert_array_equal(frame["mem_se"], a.mem_se)
        np.testing.assert_array_equal(frame["n_in"], a.n_in)
        np.testing.assert_allclose(frame["p_in"] - frame["p_out"], a.mem, atol=1e-12)
        api_infl = result.influence_frame()
        grid = load_influence(tmp_path / f"full-{mode}.h5", api_infl["train_index"],
                              api_infl["test_index"], pairwise=True)
        np.testing.assert_array_equal(api_infl["infl"].to_numpy(np.float32), grid)
        summary = select_pairs_file(tmp_path / f"full-{mode}.h5", tmp_path / "pairs.csv",
                                    0.1, 0.2)
        pairs = result.pairs(mem=0.1, infl=0.2)
        assert len(pairs) == summary["n_pairs"] > 0
        columns = ["train_index", "test_index", "label", "mem", "infl", "infl_se"]
        pd.testing.assert_frame_equal(pairs[columns], pd.read_csv(tmp_path / "pairs.csv")[columns],
                                      check_dtype=False, rtol=1e-6)
        result.write(tmp_path / "api.h5")
        np.testing.assert_array_equal(read_estimates(tmp_path / "api.h5").mem, a.mem)


def test_five_array_store_reads_with_documented_defaults(tmp_path: Path,
                                                         full_store: Path) -> None:
    store = read_store(five_arrays(full_store, tmp_path / "five.h5"))
    t, n = store.mask.shape
    np.testing.assert_array_equal(store.trials.trial, np.arange(t))
    assert (store.trials.trial_seed == -1).all() and np.isnan(store.trials.wall_time).all()
    assert not store.trials.diverged.any() and not store.train_label_flipped.any()
    np.testing.assert_array_equal(store.train_source_index, np.arange(n))
    np.testing.assert_allclose(store.trials.test_accuracy, store.test_correct.mean(axis=1))
    assert store.attrs["dataset"] == "custom" and store.attrs["n"] == n
    assert store.attrs["subset_size"] == int(np.median(store.mask.sum(axis=1)))
    assert set(OPTIONAL_DEFAULTS) | set(REQUIRED_DATASETS) >= {
        "trial", "trial_seed", "test_accuracy", "wall_time", "diverged", "train_source_index",
        "test_source_index", "train_label_flipped"}


def test_docs_table_lists_every_dataset_and_its_default() -> None:
    text = (ROOT / "docs" / "formats.md").read_text()
    for name in REQUIRED_DATASETS:
        assert f"| `{name}` |" in text and "required" in text
    for name in OPTIONAL_DEFAULTS:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert row.count("|") == 5, row  # dataset | shape | meaning | default


def test_missing_required_dataset_is_named(tmp_path: Path, full_store: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    small = five_arrays(full_store, tmp_path / "five.h5")
    with h5py.File(small, "a") as h5:
        del h5["test_labels"]
    assert main(["estimate", str(small), str(tmp_path / "e.h5")]) == 1
    assert "missing datasets ['test_labels']" in capsys.readouterr().err


def test_api_checks_shapes() -> None:
    mask = np.ones((4, 3), bool)
    with pytest.raises(ValueError, match="same trials"):
        longtail.estimate(mask, mask, np.ones((5, 2), bool), [0, 0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"train_labels must be \(3,\) integers"):
        longtail.estimate(mask, mask, np.ones((4, 2), bool), [0, 1], [0, 1])


def test_import_demo_and_datamodels(tmp_path: Path, full_store: Path) -> None:
    store = read_store(full_store)
    estimate_store(full_store, tmp_path / "ref.h5")
    ref = read_estimates(tmp_path / "ref.h5")
    demo = tmp_path / "demo.npz"
    np.savez(demo, trainset_mask=store.mask,
             trainset_correctness=store.train_correct.astype(np.float32),
             testset_correctness=store.test_correct.astype(np.float32),
             train_int_labels=store.train_labels, test_int_labels=store.test_labels)
    assert main(["import", "demo", str(demo), str(tmp_path / "demo.h5")]) == 0
    masks, test_m, train_m = (tmp_path / f"{name}.npy" for name in ("masks", "test", "train"))
    rng = np.random.default_rng(0)
    np.save(masks, store.mask)
    for path, correct in ((test_m, store.test_correct), (train_m, store.train_correct)):
        np.save(path, np.where(correct, 1, -1) * rng.uniform(0.1, 3, correct.shape))
    np.save(tmp_path / "ytr.npy", store.train_labels)
    np.save(tmp_path / "yte.npy", store.test_labels)
    assert main(["import", "datamodels", str(masks), str(test_m), str(tmp_path / "dm.h5"),
                 "--train-margins", str(train_m), "--train-labels", str(tmp_path / "ytr.npy"),
                 "--test-labels", str(tmp_path / "yte.npy"), "--dataset", "mine"]) == 0
    assert read_store(tmp_path / "dm.h5").attrs["dataset"] == "mine"
    for name in ("demo", "dm"):
        estimate_store(tmp_path / f"{name}.h5", tmp_path / f"{name}-est.h5")
        est = read_estimates(tmp_path / f"{name}-est.h5")
        np.testing.assert_array_equal(est.mem, ref.mem)


def test_import_demo_names_what_is_missing(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    demo = tmp_path / "demo.npz"
    np.savez(demo, trainset_mask=np.ones((3, 2), bool))
    assert main(["import", "demo", str(demo), str(tmp_path / "o.h5")]) == 1
    err = capsys.readouterr().err
    assert str(demo) in err and "trainset_correctness" in err
    np.savez(demo, trainset_mask=np.ones((3, 2), bool), trainset_correctness=np.ones((3, 2)),
             testset_correctness=np.ones((3, 1)))
    assert main(["import", "demo", str(demo), str(tmp_path / "o.h5")]) == 1
    assert "no train_labels" in capsys.readouterr().err
    np.save(tmp_path / "y.npy", np.zeros(5, np.int64))
    assert main(["import", "demo", str(demo), str(tmp_path / "o.h5"), "--train-labels",
                 str(tmp_path / "y.npy"), "--test-labels", str(tmp_path / "y.npy")]) == 1
    assert "train_labels must be (2,) integers" in capsys.readouterr().err


def test_licence_and_citation() -> None:
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["version"] == longtail.__version__
    paper = citation["preferred-citation"]
    assert paper["title"].startswith("What Neural Networks Memorize and Why")
    assert [a["family-names"] for a in paper["authors"]] == ["Feldman", "Zhang"]


# A fresh interpreter in which importing torch or torchvision fails, as where it is not installed.
NO_TORCH = textwrap.dedent("""
    import sys
    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, NoTorch())
""")


def test_estimators_and_cli_work_without_torch(tmp_path: Path, full_store: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(NO_TORCH)
    demo = tmp_path / "demo.npz"
    store = read_store(full_store)
    np.savez(demo, trainset_mask=store.mask, trainset_correctness=store.train_correct,
             testset_correctness=store.test_correct, train_labels=store.train_labels,
             test_labels=store.test_labels)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import longtail
        from longtail.cli import main
        d = {str(tmp_path)!r}
        for argv in (["import", "demo", d + "/demo.npz", d + "/s.h5"],
                     ["estimate", d + "/s.h5", d + "/e.h5"],
                     ["pairs", d + "/e.h5", d + "/p.csv", "--mem", "0.1", "--infl", "0.2"],
                     ["scores", d + "/e.h5", d + "/s.csv", "--store", d + "/s.h5"],
                     ["scores", d + "/e.h5", d + "/r.npz", "--format", "released"],
                     ["import-released", d + "/r.npz", d + "/r.h5"],
                     ["explain", d + "/e.h5", "--test", "0", "-k", "3"]):
            assert main(argv) == 0, argv
        r = longtail.estimate(np.eye(4, dtype=bool)[[0, 1, 2, 3] * 4], np.ones((16, 4)),
                              np.ones((16, 2)), [0, 0, 1, 1], [0, 1], min_trials=1)
        assert len(r.to_frame()) == 4
        assert main(["models"]) == 1  # needs torch, and says so
        assert not any(m.split(".")[0] in ("torch", "torchvision") for m in sys.modules)
        print("TORCH-FREE OK")
    """)
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT / 'src'}", "PATH": "/usr/bin:/bin",
           "MPLBACKEND": "Agg", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "TORCH-FREE OK" in proc.stdout
    assert "needs torch (pip install 'longtail[train]')" in proc.stderr
