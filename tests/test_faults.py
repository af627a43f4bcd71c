"""Fault injection below the workflow: broken shards and stores, writers killed mid-write, a
full disk, foreign shards, and the promises about seeds and untrusted files.

Every case runs the package's real readers and writers on files its own training wrote (a
study of 40 synthetic examples, trained in-process) and checks that a broken input is refused
with a message naming the file and the problem, and that no earlier result is lost. The same
faults through the real Snakemake workflow are in ``test_faults_workflow.py``.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import fabricate as fab
import h5py
import numpy as np
import pandas as pd
import pytest

from longtail.config.errors import ConfigError
from longtail.config.study import with_defaults
from longtail.data import load_study_data, make_study_data
from longtail.estimators import select as select_module
from longtail.estimators.estimates import compute_estimates, estimate_store, write_estimates
from longtail.store import h5 as h5_module
from longtail.store import io as io_module
from longtail.store.correctness import (
    PER_EXAMPLE,
    PER_TRIAL,
    StoreError,
    TrialResults,
    aggregate_shards,
    read_shard,
    read_store,
    write_shard,
    write_store,
)
from longtail.train.stages import aggregate, train_shard, trial_plan
from longtail.workflow.checks import check_data_paths

ROOT = Path(__file__).resolve().parents[1]

# A complete study config as rules/common.smk hands it to the jobs (defaults filled in).
STUDY = with_defaults(
    {"dataset": "mnist", "n_train": 40, "n_test": 16, "label_noise": 0.0, "arch": "mlp",
     "trials": 8, "subset_ratio": 0.5, "trials_per_job": 4, "seed": 0, "min_out_trials": 2,
     "train": {"epochs": 2, "batch_size": 8, "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0,
               "schedule": "onecycle", "ensemble_size": 4, "threads": 1}})
SHARDS = [(0, 4), (4, 8)]


def make_data(path: Path, seed: int = 0) -> Path:
    """A study data file (real writer) from a synthetic cache whose images depend on ``seed``."""
    cache = path.with_name(f"cache-{seed}.h5")
    fab.synthetic_cache(cache, np.arange(60) % 4, np.arange(24) % 4, num_classes=4, seed=seed)
    make_study_data(cache, path, n_train=STUDY["n_train"], n_test=STUDY["n_test"],
                    label_noise=0.0, seed=STUDY["seed"])
    return path


@pytest.fixture(scope="module", autouse=True)
def keep_torch_threads():
    """Training here sets torch's thread count to the recipe's (1); later modules keep theirs."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """data.h5, two shards trained by the real training stage, correctness.h5, estimates.h5."""
    root = tmp_path_factory.mktemp("trained")
    data = make_data(root / "data.h5")
    for start, stop in SHARDS:
        train_shard(data, root / f"{start}-{stop}.h5", STUDY, start, stop, progress=False)
    aggregate(data, [root / f"{a}-{b}.h5" for a, b in SHARDS], root / "correctness.h5", STUDY)
    estimate_store(root / "correctness.h5", root / "estimates.h5", min_out_trials=1)
    return root


@pytest.fixture
def study(trained, tmp_path) -> Path:
    """A private copy of the trained study that a test may break."""
    for path in trained.glob("*.h5"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    return tmp_path


def shard_paths(folder: Path) -> list[Path]:
    return [folder / f"{start}-{stop}.h5" for start, stop in SHARDS]


def flip_byte(path: Path, name: str) -> None:
    """Invert one byte in the middle of dataset ``name``'s stored data (its first chunk)."""
    with h5py.File(path, "r") as h5:
        dataset = h5[name]
        if dataset.chunks:
            chunk = dataset.id.get_chunk_info(0)
            offset, size = chunk.byte_offset, chunk.size
        else:
            offset, size = dataset.id.get_offset(), dataset.id.get_storage_size()
    with open(path, "r+b") as fh:
        fh.seek(offset + size // 2)
        byte = fh.read(1)[0]
        fh.seek(offset + size // 2)
        fh.write(bytes([byte ^ 0xFF]))


# ----------------------------------------------------------------- corrupted shards and stores

@pytest.mark.parametrize("name", PER_TRIAL)
def test_flipped_byte_in_a_shard_is_refused(study, name):
    victim = shard_paths(study)[1]
    flip_byte(victim, name)
    with pytest.raises(StoreError, match=rf"{re.escape(str(victim))}: .*corrupt"):
        read_shard(victim)
    with pytest.raises(StoreError, match=re.escape(str(victim))):
        aggregate(study / "data.h5", shard_paths(study), study / "new.h5", STUDY)
    assert not (study / "new.h5").exists()


# Datasets of the store that estimation reads (trial_seed, test_accuracy, wall_time it does not).
ESTIMATION_READS = ("trial", "mask", "train_correct", "test_correct", "diverged", *PER_EXAMPLE)


@pytest.mark.parametrize("name", PER_TRIAL + PER_EXAMPLE)
def test_flipped_byte_in_the_store_is_refused(study, name):
    store = study / "correctness.h5"
    flip_byte(store, name)
    with pytest.raises(StoreError, match=rf"{re.escape(str(store))}: .*corrupt"):
        read_store(store)
    if name in ESTIMATION_READS:
        with pytest.raises(StoreError, match=rf"{re.escape(str(store))}: .*corrupt"):
            estimate_store(store, study / "new.h5")
        assert not (study / "new.h5").exists()


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, -1])
def test_truncated_shard_and_store_are_refused(study, keep):
    """Bytes cut off the end, at several points (-1: only the last byte is missing)."""
    for path in (shard_paths(study)[0], study / "correctness.h5"):
        data = path.read_bytes()
        path.write_bytes(data[:keep] if keep == -1 else data[:int(len(data) * keep)])
    with pytest.raises(StoreError, match=re.escape(str(shard_paths(study)[0]))):
        aggregate(study / "data.h5", shard_paths(study), study / "new.h5", STUDY)
    with pytest.raises(StoreError, match=rf"{re.escape(str(study / 'correctness.h5'))}: not a "
                                         r"readable HDF5 file .*truncated"):
        compute_estimates(study / "correctness.h5")


def test_missing_shard_is_named(study):
    victim = shard_paths(study)[1]
    victim.unlink()
    with pytest.raises(StoreError, match=rf"{re.escape(str(victim))}: not a readable HDF5 file"):
        aggregate(study / "data.h5", shard_paths(study), study / "new.h5", STUDY)


def test_shard_of_another_config_is_refused(study):
    other = {**STUDY, "train": {**STUDY["train"], "lr": 0.05}}
    victim = shard_paths(study)[1]
    train_shard(study / "data.h5", victim, other, 4, 8, progress=False)
    with pytest.raises(StoreError, match=rf"{re.escape(str(victim))}: shard belongs to another "
                                         r"dataset/config"):
        aggregate(study / "data.h5", shard_paths(study), study / "new.h5", STUDY)


def test_shard_trained_on_other_data_is_refused(study):
    """Same config (fingerprint), but the shard was trained on another data file: e.g. a
    dataset cache rebuilt from other originals, or a shard copied from another machine."""
    other = make_data(study / "other-data.h5", seed=1)
    assert load_study_data(other).data_hash != load_study_data(study / "data.h5").data_hash
    victim = shard_paths(study)[1]
    train_shard(other, victim, STUDY, 4, 8, progress=False)
    with pytest.raises(StoreError, match=rf"{re.escape(str(victim))}: shard was trained on other "
                                         r"data"):
        aggregate(study / "data.h5", shard_paths(study), study / "new.h5", STUDY)


def test_shards_with_different_shapes_are_refused(study):
    """Two shards that agree on the config but not on n_test (e.g. written by other code):
    refused with the file named, not a numpy concatenation error."""
    good, _ = read_shard(shard_paths(study)[0])
    _, attrs = read_shard(shard_paths(study)[1])
    narrow = TrialResults(**{**vars(good), "trial": good.trial + 4,
                             "test_correct": good.test_correct[:, :10]})
    victim = shard_paths(study)[1]
    write_shard(victim, narrow, {**attrs, "n_test": 10})
    with pytest.raises(StoreError, match=rf"{re.escape(str(victim))}: arrays cover n=40, "
                                         r"n_test=10 but .*0-4\.h5 has n=40, n_test=16"):
        aggregate_shards(shard_paths(study), attrs["fingerprint"])


def test_duplicate_trial_ids_are_refused(study):
    results, attrs = read_shard(shard_paths(study)[1])
    victim = shard_paths(study)[1]
    write_shard(victim, TrialResults(**{**vars(results), "trial": np.array([4, 5, 5, 7])}), attrs)
    with pytest.raises(StoreError, match=rf"{re.escape(str(victim))}: trial 5 is also in "
                                         rf"{re.escape(str(victim))} \(duplicate trial id\)"):
        aggregate(study / "data.h5", shard_paths(study), study / "new.h5", STUDY)
    store = study / "correctness.h5"
    with h5py.File(store, "r+") as h5:
        h5["trial"][3] = 2
    with pytest.raises(StoreError, match=rf"{re.escape(str(store))}: duplicate trial ids"):
        estimate_store(store, study / "new.h5")
    assert not (study / "new.h5").exists()


def test_shard_missing_trials_is_refused(study):
    results, attrs = read_shard(shard_paths(study)[1])
    keep = slice(0, 3)
    victim = shard_paths(study)[1]
    write_shard(victim, TrialResults(**{name: getattr(results, name)[keep]
                                        for name in PER_TRIAL}), attrs)
    with pytest.raises(StoreError, match=r"missing e\.g\. \[7\]"):
        aggregate(study / "data.h5", shard_paths(study), study / "new.h5", STUDY)


# ----------------------------------------------------------------- a writer killed mid-write

KILLED_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from longtail.store import correctness as store

    def stall(h5, attrs):  # every dataset is written; 'complete' is not yet
        print("writing", flush=True)
        time.sleep(600)

    store.write_attrs = stall
    t, n = 4, 40
    results = store.TrialResults(
        trial=np.arange(t), trial_seed=np.arange(t), mask=np.ones((t, n), bool),
        train_correct=np.ones((t, n), bool), test_correct=np.ones((t, 16), bool),
        test_accuracy=np.ones(t), wall_time=np.ones(t), diverged=np.zeros(t, bool))
    store.write_shard(sys.argv[1], results, {"dataset": "d", "arch": "a", "n": n,
                                             "n_test": 16, "subset_size": 20,
                                             "fingerprint": "f"})
""")


def test_writer_killed_mid_write_leaves_nothing_that_reads_as_complete(tmp_path):
    target = tmp_path / "0-4.h5"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    assert not target.exists()
    leftovers = list(tmp_path.iterdir())
    assert [p.name for p in leftovers] == [f".0-4.h5.{writer.pid}.tmp"]
    with pytest.raises(StoreError, match=re.escape(str(leftovers[0]))):
        read_shard(leftovers[0])
    with pytest.raises(StoreError, match=rf"{re.escape(str(target))}: not a readable HDF5 file"):
        aggregate_shards([target], "f")


# ----------------------------------------------------------------- a full disk

@contextlib.contextmanager
def onto_full_disk(real_atomic_path, path):
    """atomic_path whose temporary file is /dev/full: every write fails with ENOSPC, as on a
    full file system (the kernel's own error, no privileges needed)."""
    with real_atomic_path(path) as tmp:
        tmp.symlink_to("/dev/full")
        yield tmp


# Every HDF5 file is written through longtail.store.h5, other files through longtail.store.io.
WRITERS = {
    "shard": (h5_module, lambda src, out: write_shard(out, *read_shard(src / "0-4.h5"))),
    "store": (h5_module, lambda src, out: write_store(out, read_store(src / "correctness.h5"))),
    "estimates": (h5_module, lambda src, out: write_estimates(
        out, *compute_estimates(src / "correctness.h5", min_trials=1))),
    "study data": (h5_module, lambda src, out: make_study_data(
        src / "cache-0.h5", out, n_train=40, n_test=16, label_noise=0.0, seed=0)),
    "summary": (io_module, lambda src, out: select_module.write_summary({"n": 1}, out)),
    "pairs": (io_module, lambda src, out: select_module.write_pairs(
        pd.DataFrame(columns=list(select_module.PAIR_COLUMNS)), out)),
}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_full_disk_fails_clearly_and_keeps_the_earlier_file(trained, tmp_path, monkeypatch,
                                                            writer):
    module, write = WRITERS[writer]
    out = tmp_path / "result.out"
    out.write_bytes(b"the earlier result")
    real = h5_module.atomic_path
    monkeypatch.setattr(module, "atomic_path", lambda path: onto_full_disk(real, path))
    with pytest.raises(OSError) as err:
        write(trained, out)
    assert err.value.errno == errno.ENOSPC
    assert str(err.value) == f"[Errno 28] No space left on device: '{out}'"
    assert out.read_bytes() == b"the earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.out"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_full_disk_in_the_command_line_is_one_line_and_exit_1(trained, tmp_path, monkeypatch,
                                                              capsys):
    from longtail.cli import main

    real = h5_module.atomic_path
    monkeypatch.setattr(h5_module, "atomic_path", lambda path: onto_full_disk(real, path))
    out = tmp_path / "estimates.h5"
    assert main(["estimate", str(trained / "correctness.h5"), str(out),
                 "--min-out-trials", "1"]) == 1
    assert capsys.readouterr().err == \
        f"longtail estimate: error: {out}: No space left on device\n"
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- configuration

def test_imagenet_root_must_exist_until_the_cache_is_built(tmp_path):
    """(Through `snakemake`: test_faults_workflow.py::test_bad_configs_stop_before_any_job.)"""
    config = {"studies": {"s": {"dataset": "imagenet"}},
              "data": {"imagenet_root": str(tmp_path / "ILSVRC2012")}}
    with pytest.raises(ConfigError, match=r"^data\.imagenet_root = '.*ILSVRC2012' is not a "
                                          r"folder \(needed to build .*imagenet\.h5\); allowed:"):
        check_data_paths(config, tmp_path / "resources")
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "imagenet.h5").touch()  # built: the archives are not read again
    check_data_paths(config, tmp_path / "resources")
    (tmp_path / "resources" / "imagenet.h5").unlink()
    (tmp_path / "ILSVRC2012").mkdir()
    check_data_paths(config, tmp_path / "resources")
    check_data_paths({"studies": {"s": {"dataset": "mnist"}}, "data": {"imagenet_root": "/no"}},
                     tmp_path / "resources")


# ----------------------------------------------------------------- determinism

# sha256 of the packed (32, 300) masks and of the 32 trial seeds of the tiny study (seed 0,
# m = 0.7 n): a change means new shards would not continue the trials of earlier runs.
TINY_MASKS_SHA256 = "8246c5d234a8ef2f05a72b43cbb67d93505cd0b8cbad4f67d9d9a3fc21559b91"
TINY_SEEDS_SHA256 = "94aef54291839ed3b691b332cdeae21f6fd4ff1af67e7830ac6ddd2f66b6cc83"


def test_masks_and_seeds_are_bit_identical_to_the_recorded_ones():
    seeds, masks = trial_plan({"seed": 0, "subset_ratio": 0.7}, 300, range(32))
    assert hashlib.sha256(np.packbits(masks).tobytes()).hexdigest() == TINY_MASKS_SHA256
    assert hashlib.sha256(np.asarray(seeds, np.int64).tobytes()).hexdigest() == TINY_SEEDS_SHA256
    parts = [trial_plan({"seed": 0, "subset_ratio": 0.7}, 300, range(a, b))
             for a, b in ((0, 5), (5, 16), (16, 32))]
    np.testing.assert_array_equal(np.concatenate([m for _, m in parts]), masks)


def test_training_is_identical_across_reruns_and_shardings(trained, tmp_path):
    """CPU training of the same trials gives the same correctness, whether trained again or in
    one shard instead of two (trials_per_job 8 instead of 4; ensemble_size 4 divides both)."""
    study = {**STUDY, "trials_per_job": 8}
    train_shard(trained / "data.h5", tmp_path / "0-8.h5", study, 0, 8, progress=False)
    train_shard(trained / "data.h5", tmp_path / "4-8.h5", STUDY, 4, 8, progress=False)
    one, _ = read_shard(tmp_path / "0-8.h5")
    again, _ = read_shard(tmp_path / "4-8.h5")
    store = read_store(trained / "correctness.h5")
    for name in ("trial", "trial_seed", "mask", "train_correct", "test_correct", "diverged"):
        np.testing.assert_array_equal(getattr(one, name), getattr(store.trials, name), name)
        np.testing.assert_array_equal(getattr(again, name), getattr(store.trials, name)[4:], name)


# ----------------------------------------------------------------- untrusted files

def python_sources() -> list[Path]:
    folders = ("src", "scripts", "benchmarks", "tools", "tests")
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


PICKLERS = ("pickle", "marshal", "shelve", "dill", "cloudpickle")


def unsafe_loads(path: Path) -> list[str]:
    """Calls in ``path`` that could run code from a file: torch.load without
    weights_only=True, pickle/marshal/shelve/dill loads (and, outside tests/, which fabricates
    CIFAR pickles, their import), numpy allow_pickle, yaml.load without a safe loader, and
    archive extraction other than the allowed ones below."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and path.parent.name != "tests":
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(n.split(".")[0] in PICKLERS for n in names):
                found.append(f"{path}:{node.lineno}: imports {names}")
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        where = f"{path}:{node.lineno}: {func}"
        if func.split(".")[0] in PICKLERS and func.split(".")[-1] in ("load", "loads",
                                                                       "Unpickler", "open") \
                or func.endswith("read_pickle"):
            found.append(f"{where} loads a pickle")
        if func.endswith("torch.load"):
            weights_only = _keyword(node, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append(f"{where} without weights_only=True")
        allow = _keyword(node, "allow_pickle")
        if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
            found.append(f"{where} with allow_pickle")
        if func in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"):
            loader = _keyword(node, "Loader")
            if loader is None or "Safe" not in ast.unparse(loader):
                found.append(f"{where} without yaml.SafeLoader")
        extraction = func.endswith(("extractall", ".extract", "unpack_archive",
                                    "extract_archive"))
        relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else ""
        allowed = EXTRACTION_ALLOWED.get(relative, ())
        if extraction and func not in allowed and path.parent.name != "tests":
            found.append(f"{where}: extraction outside longtail.data.archives")
    return found


# Where files are unpacked, and why that stays inside the target folder.
EXTRACTION_ALLOWED = {
    # every member checked (no absolute or '..' names or links) first; tarfile's data filter
    "src/longtail/data/archives.py": ("tar.extractall",),
    # MNIST-style originals are single verified .gz files: one decompressed file each, in raw/
    "src/longtail/data/convert.py": ("extract_archive",),
}


def test_no_code_loads_untrusted_pickles_or_extracts_outside_its_target():
    problems = [problem for path in python_sources() for problem in unsafe_loads(path)]
    assert problems == []


def test_the_scan_finds_unsafe_calls(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent("""
        import pickle, tarfile, torch, yaml, numpy as np
        torch.load("m.pt")
        torch.load("m.pt", weights_only=False)
        torch.load("m.pt", weights_only=True)
        pickle.loads(b"")
        np.load("a.npy", allow_pickle=True)
        yaml.load("a: 1", Loader=yaml.Loader)
        yaml.load("a: 1", Loader=yaml.SafeLoader)
        tarfile.open("a.tar").extractall("x")
    """))
    problems = unsafe_loads(sample)
    assert [int(p.split(":")[1]) for p in problems] == [2, 3, 4, 6, 7, 8, 10]


def test_archive_extraction_checks_every_member_and_uses_the_data_filter():
    """The one extraction in the package refuses escaping members before extracting (see
    test_data_archives.py for the refused archives) and extracts with tarfile's data filter."""
    tree = ast.parse((ROOT / "src/longtail/data/archives.py").read_text())
    extract = next(node for node in ast.walk(tree)
                   if isinstance(node, ast.FunctionDef) and node.name == "extract_tar")
    calls = [ast.unparse(node) for node in ast.walk(extract) if isinstance(node, ast.Call)]
    assert calls[0].startswith("check_tar(archive")
    assert any(call.startswith("tar.extractall(dest, filter='data')") for call in calls)


def test_torchvision_loaders_we_use_are_safe():
    """torchvision's ImageNet metadata and MNIST loaders load tensors with weights_only=True;
    CIFAR's pickles are read only after their md5 is verified (torchvision's own check)."""
    import inspect

    from torchvision.datasets import CIFAR10, MNIST, imagenet

    for source in (inspect.getsource(imagenet.load_meta_file),
                   inspect.getsource(MNIST._load_legacy_data)):
        assert "torch.load(" in source and "weights_only=True" in source
    init = inspect.getsource(CIFAR10.__init__)
    assert init.index("_check_integrity()") < init.index("pickle.load")


def test_snakefile_and_rules_load_no_pickles():
    text = "\n".join(p.read_text() for p in [ROOT / "Snakefile", *(ROOT / "rules").glob("*.smk")])
    assert not re.search(r"\b(pickle|torch\.load|allow_pickle|yaml\.load\()", text)
    # the rules read no YAML themselves: the config is Snakemake's, the schema
    # longtail.config.schema's


def test_corrupt_study_config_attribute_is_refused(study):
    """The study_config attribute is JSON (never a pickle): garbage there is refused with the
    file named, in shards and in the store."""
    for path in (shard_paths(study)[0], study / "correctness.h5"):
        with h5py.File(path, "r+") as h5:
            h5.attrs["study_config"] = "{not json"
    with pytest.raises(StoreError, match=rf"{re.escape(str(shard_paths(study)[0]))}: attribute "
                                         r"'study_config' is not JSON"):
        aggregate(study / "data.h5", shard_paths(study), study / "new.h5", STUDY)
    with pytest.raises(StoreError, match=rf"{re.escape(str(study / 'correctness.h5'))}: "
                                         r"attribute 'study_config' is not JSON"):
        read_store(study / "correctness.h5")
