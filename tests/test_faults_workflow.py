"""Fault injection through the real Snakemake workflow on the tiny study: killed jobs and a
killed Snakemake, bad configurations, broken inputs, divergence, a full or read-only disk.

The reference for "the same result" is the session's uninterrupted ``tiny_study``. Work
directories start from copies of its dataset cache and study data (so only what is under test
runs), and the final stores are compared array by array with the reference's.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import ROOT, TINY, changed_config, planned_jobs, snakemake
from test_faults import TINY_MASKS_SHA256, flip_byte

from longtail.estimators.estimates import read_estimates
from longtail.store.correctness import PER_EXAMPLE, PER_TRIAL, read_shard, read_store

pytestmark = pytest.mark.e2e

CACHE = "resources/fashion-mnist.h5"
DATA = "results/tiny/data.h5"
STORE = "results/tiny/correctness.h5"
TRIALS = "results/tiny/trials"


@pytest.fixture(autouse=True)
def no_slurm_probe(tmp_path_factory, monkeypatch):
    """snakemake-executor-plugin-slurm runs `scontrol show config` when Snakemake starts (10 s
    timeout); where SLURM's client is installed but no controller answers, every `snakemake`
    start waits ~9 s for it. These runs are local: an `scontrol` that fails at once comes
    first on their PATH (the plugin then treats SLURM as absent)."""
    shim = tmp_path_factory.getbasetemp() / "no-slurm-bin"
    if not (shim / "scontrol").exists():
        shim.mkdir(exist_ok=True)
        (shim / "scontrol").write_text("#!/bin/sh\nexit 1\n")
        (shim / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")


def seeded(workdir: Path, reference: Path, *extra: str, metadata: bool = False) -> Path:
    """A work directory holding copies (mtimes kept) of the reference's dataset cache, study
    data and ``extra`` files, so that the workflow starts at what a test exercises; with
    ``metadata`` also Snakemake's records of how they were made (so that a changed parameter,
    e.g. more trials, makes Snakemake redo a job whose output exists)."""
    for name in (CACHE, DATA, *extra):
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(reference / name, workdir / name)
    if metadata:
        shutil.copytree(reference / ".snakemake" / "metadata", workdir / ".snakemake" / "metadata")
    return workdir


def start(workdir: Path, config: Path, out: Path, *args: str) -> subprocess.Popen:
    """Snakemake in the background, leading its own process group; output to ``out``."""
    with open(out, "w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
             str(workdir), "--configfile", str(config), *args],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(condition: Callable[[], object], run: subprocess.Popen, out: Path,
             timeout: float = 300) -> object:
    """Poll ``condition`` until it is truthy; fail if Snakemake ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if run.poll() is not None:
            pytest.fail(f"snakemake ended (rc {run.returncode}) first:\n{out.read_text()[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting:\n{out.read_text()[-3000:]}")


def training_started(workdir: Path, shard: str) -> bool:
    """The job of ``shard`` loaded its data and is training (its log says so)."""
    log = workdir / "logs" / "tiny" / "train" / f"{shard}.log"
    return log.exists() and "training trials" in log.read_text()


def processes() -> dict[int, tuple[int, int, str, str]]:
    """pid -> (parent pid, process group, state, command line) of every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0], cmdline)
    return table


def job_pids(snakemake_pid: int, script: str) -> list[int]:
    """Descendants of Snakemake that run the rule script ``script`` (e.g. train_trial_shard)."""
    table = processes()
    family, found = {snakemake_pid}, True
    while found:
        found = {pid for pid, (ppid, *_) in table.items() if ppid in family} - family
        family |= found
    def runs_script(cmdline: str) -> bool:  # python <tmp>.<script>.py, not the shell around it
        args = cmdline.split()
        return len(args) > 1 and "python" in Path(args[0]).name and \
            args[1].endswith(f".{script}.py")
    return [pid for pid in family if runs_script(table[pid][3])]


def alive(pid: int) -> bool:
    state = processes().get(pid)
    return state is not None and state[2] != "Z"


def assert_same_store(path: Path, reference: Path) -> None:
    """Every array of two stores is identical, except the measured wall times."""
    with h5py.File(path, "r") as got, h5py.File(reference, "r") as want:
        for name in PER_TRIAL + PER_EXAMPLE:
            if name != "wall_time":
                np.testing.assert_array_equal(got[name][()], want[name][()], err_msg=name)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------- kills and reruns

def test_training_job_killed_mid_shard_is_redone_alone(tiny_study, tmp_path):
    """SIGKILL of a training job: Snakemake stops with the job named; a plain rerun
    (`snakemake`) trains only that shard; the store equals the uninterrupted run's."""
    work = seeded(tmp_path / "work", tiny_study)
    out = tmp_path / "first.out"
    run = start(work, TINY, out, "--cores", "1", STORE)  # one core: the shards run in turn
    shards = ["0-16", "16-32"]

    def second_shard_training() -> str | None:
        done = [s for s in shards if (work / TRIALS / f"{s}.h5").exists()]
        busy = [s for s in shards if s not in done and training_started(work, s)]
        return busy[0] if len(done) == 1 and busy else None

    victim = wait_for(second_shard_training, run, out)
    [finished] = [s for s in shards if s != victim]
    [job] = job_pids(run.pid, "train_trial_shard")
    os.kill(job, signal.SIGKILL)
    assert run.wait(timeout=300) != 0
    text = out.read_text()
    assert "Error in rule train_trial_shard" in text and f"{TRIALS}/{victim}.h5" in text
    assert f"logs/tiny/train/{victim}.log" in text
    assert not (work / TRIALS / f"{victim}.h5").exists()
    assert sorted(p.name for p in (work / TRIALS).iterdir()
                  if not p.name.startswith(".")) == [f"{finished}.h5"]
    kept = digest(work / TRIALS / f"{finished}.h5")

    rerun = snakemake(work, TINY, STORE)
    assert planned_jobs(rerun) == {"train_trial_shard": 1, "aggregate_correctness": 1}
    assert f"output: {TRIALS}/{victim}.h5" in rerun.stdout + rerun.stderr
    assert digest(work / TRIALS / f"{finished}.h5") == kept
    assert_same_store(work / STORE, tiny_study / STORE)


def test_snakemake_killed_with_its_job_resumes_after_unlock(tiny_study, tmp_path):
    """SIGKILL of Snakemake and its job together (its process group: a lost session, a
    cancelled allocation, a crash) mid-shard. The rerun is refused until `snakemake --unlock`;
    then `snakemake` trains the shard. Here the study runs as one job of 32 trials, and the
    store equals the reference's two jobs of 16: results do not depend on trials_per_job."""
    config = changed_config(tmp_path, "one-job.yaml",
                            lambda c: c["studies"]["tiny"].update(trials_per_job=32))
    work = seeded(tmp_path / "work", tiny_study)
    out = tmp_path / "first.out"
    run = start(work, config, out, "--cores", "2", STORE)
    wait_for(lambda: training_started(work, "0-32"), run, out)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    time.sleep(0.5)
    assert not [pid for pid, (_, group, state, _) in processes().items()
                if group == run.pid and state != "Z"]
    assert not (work / TRIALS / "0-32.h5").exists()

    locked = snakemake(work, config, STORE, check=False)
    assert locked.returncode != 0
    assert "Directory cannot be locked" in locked.stdout + locked.stderr
    assert "--unlock" in locked.stdout + locked.stderr
    snakemake(work, config, "--unlock")
    rerun = snakemake(work, config, STORE)
    assert planned_jobs(rerun) == {"train_trial_shard": 1, "aggregate_correctness": 1}
    assert_same_store(work / STORE, tiny_study / STORE)
    store = read_store(work / STORE)
    assert store.attrs["study_config"]["trials_per_job"] == 32
    assert hashlib.sha256(np.packbits(store.mask).tobytes()).hexdigest() == TINY_MASKS_SHA256


def test_snakemake_killed_alone_needs_rerun_incomplete(tiny_study, tmp_path):
    """SIGKILL of Snakemake only: its job lives on and writes a complete shard, but Snakemake
    recorded the shard as incomplete. After `snakemake --unlock`, `snakemake` refuses to use
    it and names `--rerun-incomplete`, which retrains it to the same result."""
    work = seeded(tmp_path / "work", tiny_study)
    shard = f"{TRIALS}/0-16.h5"
    out = tmp_path / "first.out"
    run = start(work, TINY, out, "--cores", "1", shard)
    wait_for(lambda: training_started(work, "0-16"), run, out)
    [job] = job_pids(run.pid, "train_trial_shard")
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    deadline = time.monotonic() + 300
    while alive(job) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(job)
    read_shard(work / shard)  # the orphaned job finished its shard, complete and readable

    snakemake(work, TINY, "--unlock")
    refused = snakemake(work, TINY, shard, check=False)
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "seem to be incomplete" in text and shard in text and "--rerun-incomplete" in text
    rerun = snakemake(work, TINY, "--rerun-incomplete", shard)
    assert planned_jobs(rerun) == {"train_trial_shard": 1}
    got, _ = read_shard(work / shard)
    want, _ = read_shard(tiny_study / shard)
    for name in PER_TRIAL:
        if name != "wall_time":
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), name)


# ----------------------------------------------------------------- bad configurations

def _set(path: str, value: object) -> Callable[[dict], None]:
    """An edit of the tiny config setting the dotted key ``path``."""
    def edit(config: dict) -> None:
        *parents, key = path.split(".")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    return edit


def _imagenet(root: str | None) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        config["studies"]["tiny"].update(dataset="imagenet", n_train=1000, n_test=100)
        if root:
            config.setdefault("data", {})["imagenet_root"] = root
    return edit


# name: (edit of the tiny config, the key named, what the one line must say)
BAD_CONFIGS = {
    "subset_ratio_0": (_set("studies.tiny.subset_ratio", 0.0), "studies.tiny.subset_ratio",
                       "studies.tiny.subset_ratio = 0.0 is not allowed; allowed: > 0 and < 1"),
    "subset_ratio_1": (_set("studies.tiny.subset_ratio", 1.0), "studies.tiny.subset_ratio",
                       "studies.tiny.subset_ratio = 1.0 is not allowed; allowed: > 0 and < 1"),
    "too_few_left_out": (_set("studies.tiny.subset_ratio", 0.95), "studies.tiny.subset_ratio",
                         "studies.tiny.subset_ratio = 0.95 with trials = 32 leaves each example "
                         "out of only 1.6 trials on average; need at least min_out_trials = 8"),
    "one_trial": (_set("studies.tiny.trials", 1), "studies.tiny.trials",
                  "studies.tiny.trials = 1 is not allowed; allowed: >= 2"),
    "n_train_above_split": (_set("studies.tiny.n_train", 60001), "studies.tiny.n_train",
                            "studies.tiny.n_train = 60001 is larger than the fashion-mnist train "
                            "split (60000 examples); allowed: 2..60000 or null"),
    "unknown_dataset": (_set("studies.tiny.dataset", "svhn"), "studies.tiny.dataset",
                        "studies.tiny.dataset = 'svhn' is not allowed; allowed: mnist, "
                        "fashion-mnist, cifar10, cifar100, imagenet"),
    "unknown_arch": (_set("studies.tiny.arch", "vgg16"), "studies.tiny.arch",
                     "studies.tiny.arch = 'vgg16' is not allowed; allowed: mlp, cnn, resnet9"),
    "mem_threshold_above_1": (_set("thresholds.mem", 1.5), "thresholds.mem",
                              "thresholds.mem = 1.5 is not allowed; allowed: >= 0 and <= 1"),
    "infl_threshold_below_0": (_set("thresholds.infl", -0.1), "thresholds.infl",
                               "thresholds.infl = -0.1 is not allowed; allowed: >= 0 and <= 1"),
    "removal_threshold_above_1": (_set("studies.tiny.removal.thresholds", [0.25, 1.5]),
                                  "studies.tiny.removal.thresholds",
                                  "studies.tiny.removal.thresholds.1 = 1.5 is not allowed; "
                                  "allowed: >= 0 and <= 1"),
    "unknown_base": (_set("studies.tiny.base", "tinier"), "studies.tiny.base",
                     "studies.tiny.base = 'tinier' names no study (known: tiny)"),
    "base_cycle": (_set("studies.tiny.base", "tiny"), "studies.tiny:",
                   "studies.tiny: its bases form a cycle (tiny -> tiny)"),
    "merged_study_invalid": (_set("studies.tiny-b", {"base": "tiny", "trials": 1}),
                             "studies.tiny-b", "studies.tiny-b.trials = 1 is not allowed; "
                             "allowed: >= 2 (integer); or {until: ..., step: ..., max: ...} "
                             "(study tiny-b is merged with its base tiny)"),
    "imagenet_without_root": (_imagenet(None), "data.imagenet_root",
                              "studies.tiny.dataset = imagenet needs data.imagenet_root"),
    "imagenet_root_missing": (_imagenet("/nonexistent/ILSVRC2012"), "data.imagenet_root",
                              "data.imagenet_root = '/nonexistent/ILSVRC2012' is not a folder "
                              "(needed to build resources/imagenet.h5); allowed: the folder "
                              "with ILSVRC2012_img_train.tar"),
}


def test_bad_configs_stop_before_any_job_with_one_line(tmp_path):
    """Each bad config through the real `snakemake` command: exit code 1, one line naming the
    key and what is allowed, and nothing run (no results/, resources/ or logs/)."""
    def attempt(name: str) -> tuple[str, subprocess.CompletedProcess, Path]:
        workdir = tmp_path / name
        workdir.mkdir()
        edit, _, _ = BAD_CONFIGS[name]
        return name, snakemake(workdir, changed_config(tmp_path, f"{name}.yaml", edit),
                               check=False), workdir

    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(attempt, BAD_CONFIGS))
    for name, proc, workdir in runs:
        _, key, message = BAD_CONFIGS[name]
        text = proc.stdout + proc.stderr
        assert proc.returncode == 1, (name, text[-2000:])
        lines = [line for line in text.splitlines() if key in line]
        assert len(lines) == 1 and message in lines[0], (name, text[-2000:])
        assert "Job stats" not in text, name
        assert sorted(p.name for p in workdir.iterdir()) in ([], [".snakemake"]), name


# ----------------------------------------------------------------- broken inputs

def test_broken_shard_and_store_are_refused_by_their_jobs(tiny_study, tmp_path):
    """A truncated shard stops aggregation and a corrupted store stops estimation, each job's
    log naming the file and the problem; nothing is retrained or written in their place."""
    shards = [f"{TRIALS}/0-16.h5", f"{TRIALS}/16-32.h5"]
    cut = seeded(tmp_path / "cut", tiny_study, *shards)
    victim = cut / shards[1]
    victim.write_bytes(victim.read_bytes()[:10000])
    flipped = seeded(tmp_path / "flipped", tiny_study, *shards, STORE)
    flip_byte(flipped / STORE, "diverged")

    proc = snakemake(cut, TINY, STORE, check=False)
    assert proc.returncode == 1
    assert planned_jobs(proc) == {"aggregate_correctness": 1}
    assert "Error in rule aggregate_correctness" in proc.stdout + proc.stderr
    log = (cut / "logs/tiny/aggregate_correctness.log").read_text()
    assert re.search(rf"StoreError: {shards[1]}: not a readable HDF5 file .*truncated file", log)
    assert not (cut / STORE).exists()

    proc = snakemake(flipped, TINY, "results/tiny/estimates.h5", check=False)
    assert proc.returncode == 1
    assert planned_jobs(proc) == {"estimate_memorization": 1}
    log = (flipped / "logs/tiny/estimate_memorization.log").read_text()
    assert f"error: {STORE}: cannot read 'diverged' (" in log and "the file is corrupt" in log
    assert not (flipped / "results/tiny/estimates.h5").exists()


def test_dataset_cache_with_wrong_content_is_refused_not_used(tiny_study, tmp_path):
    """A dataset cache whose content no longer matches its recorded hash: the study data is
    not made from it, the message says what to do, and the cache is not silently rebuilt."""
    work = tmp_path / "work"
    (work / "resources").mkdir(parents=True)
    shutil.copy2(tiny_study / CACHE, work / CACHE)
    with h5py.File(work / CACHE, "r+") as h5:
        h5["train_labels"][0] = (h5["train_labels"][0] + 1) % 10
    changed = digest(work / CACHE)
    proc = snakemake(work, TINY, DATA, check=False)
    assert proc.returncode == 1
    assert planned_jobs(proc) == {"make_study_data": 1}
    log = (work / "logs/tiny/make_study_data.log").read_text()
    assert re.search(rf"DataError: {CACHE}: dataset cache content hash sha256:\w+ does not match "
                     r"the recorded sha256:\w+; the file is corrupt or was modified\. Delete it "
                     r"and rebuild\.", log)
    assert not (work / DATA).exists()
    assert digest(work / CACHE) == changed


# ----------------------------------------------------------------- divergence

def test_diverged_trials_are_marked_reported_and_excluded(tiny_study, tmp_path):
    """An absurd learning rate: every model's loss becomes non-finite. The trials are marked,
    the training log reports them, none counts as a trained model, and the estimates and the
    summary say how many trials were excluded."""
    def absurd(config: dict) -> None:
        config["studies"]["tiny"].update(trials=16, min_out_trials=4)
        config["studies"]["tiny"]["train"].update(lr=1e12, schedule="constant")

    config = changed_config(tmp_path, "absurd-lr.yaml", absurd)
    work = seeded(tmp_path / "work", tiny_study)
    snakemake(work, config, "results/tiny/summary.json")
    log = (work / "logs/tiny/train/0-16.log").read_text()
    assert "16 of 16 trials diverged (non-finite loss); they are kept, marked, and excluded by " \
           "the estimators" in log
    store = read_store(work / STORE)
    assert store.trials.diverged.all() and not store.valid_trials.any()
    assert not store.train_correct.any() and not store.test_correct.any()
    assert (store.trials.test_accuracy == 0).all()
    estimates = read_estimates(work / "results/tiny/estimates.h5")
    assert estimates.attrs["n_excluded_trials"] == 16 and estimates.attrs["n_valid_trials"] == 0
    np.testing.assert_array_equal(estimates.excluded_trials, np.arange(16))
    assert (estimates.n_in + estimates.n_out == 0).all() and np.isnan(estimates.mem).all()
    summary = json.loads((work / "results/tiny/summary.json").read_text())
    assert (summary["n_trials"], summary["n_valid_trials"], summary["n_excluded_trials"]) == \
        (16, 0, 16)
    assert summary["n_pairs"] == 0 and summary["n_mem_undefined"] == 300


# ----------------------------------------------------------------- full or read-only disk

@pytest.fixture
def tmpfs():
    """Mounts a 1 MiB tmpfs on a folder: a real file system that fills up and can be
    remounted read-only (needs CAP_SYS_ADMIN, as root here); unmounted afterwards."""
    mounted = []

    def mount(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if proc.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); ENOSPC without "
                        "privileges: test_faults.py::test_full_disk_fails_clearly_and_keeps_"
                        "the_earlier_file")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path) -> None:
    """Write zeros into ``folder`` until its file system is full."""
    with open(folder / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC


def test_full_or_read_only_trials_folder_fails_clearly_keeping_earlier_results(
        tiny_study, tmp_path, tmpfs):
    """A finished study raises trials to 48 while its trials folder is a full file system,
    then a read-only one. Each run stops with the file and the reason named; the earlier shards
    and the store stay as they were (aggregation never runs) and no partial file is left."""
    shards = [f"{TRIALS}/0-16.h5", f"{TRIALS}/16-32.h5"]
    work = seeded(tmp_path / "work", tiny_study, STORE, metadata=True)
    trials = tmpfs(work / TRIALS)
    for shard in shards:
        shutil.copy2(tiny_study / shard, work / shard)
    before = {name: digest(work / name) for name in (*shards, STORE)}
    config = changed_config(tmp_path, "more.yaml",
                            lambda c: c["studies"]["tiny"].update(trials=48))

    def run_and_check_nothing_lost() -> str:
        proc = snakemake(work, config, STORE, check=False)
        text = proc.stdout + proc.stderr
        assert proc.returncode == 1, text[-2000:]
        assert planned_jobs(proc) == {"train_trial_shard": 1, "aggregate_correctness": 1}
        assert {name: digest(work / name) for name in (*shards, STORE)} == before
        assert {p.name for p in trials.iterdir()} - {"filler"} == {"0-16.h5", "16-32.h5"}
        return text

    # Full: the training job fails writing its shard; its log says where and why.
    fill(trials)
    text = run_and_check_nothing_lost()
    assert "Error in rule train_trial_shard" in text and "logs/tiny/train/32-48.log" in text
    log = (work / "logs/tiny/train/32-48.log").read_text()
    assert log.strip().splitlines()[-1] == \
        f"OSError: [Errno 28] No space left on device: '{TRIALS}/32-48.h5'", log[-2000:]

    # Read-only: Snakemake itself stops before the job, in its last line.
    (trials / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(trials)], check=True)
    text = run_and_check_nothing_lost()
    assert text.strip().splitlines()[-1] == \
        f"OSError: [Errno 30] Read-only file system: '{TRIALS}/32-48.h5'"
