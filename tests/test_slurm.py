"""The real workflow through a real SLURM: a single-node cluster on localhost (tools/slurm.sh),
the tiny study submitted with ``--profile profiles/slurm``.

Needs root (it starts munged, slurmctld and slurmd); installs the Debian packages if missing.
Skipped only when the cluster cannot be started for that reason (not root, no apt); any other
failure to start is a test failure. The node declares two fake GPUs (``--fake-gpus 2``), so the
training rules' ``resources: gpu=1`` really goes through ``sbatch --gpus=1``; the memory the
rules derive from the study reaches ``sbatch --mem``. Then training is repeated with shards
packed two per job, and as one SLURM job array (``--slurm-array-jobs``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "config" / "tiny.yaml"
SLURM_SH = ROOT / "tools" / "slurm.sh"
LOCK = "/tmp/longtail-slurm-test.lock"
PROFILE = ROOT / "profiles" / "slurm"
TARGET = "results/tiny/correctness.h5"
TRAINING_RULES = ("train_trial_shard", "train_removal_shard")
RUN_TIMEOUT = 900  # seconds for one workflow run through SLURM (it takes about 2 minutes)
# What rules/common.smk derives for a tiny study's training job: 4 GB base + its 0.3 MB of images.
TRAINING_MEM_MB = 5000
SKIP_CODES = {3: "not root", 4: "Debian packages missing and apt-get cannot install them"}

pytestmark = pytest.mark.slurm

SUBMITTED = re.compile(
    r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.?$", re.M)
ARRAY_SUBMITTED = re.compile(
    r"Submitted array job with Snakemake IDs (\S+) and SLURM job ID (\d+)\. "
    r"The individual task IDs are (\d+)-(\d+)\.", re.M)


def _sh(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SLURM_SH), *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node SLURM; stopped afterwards unless it was running before."""
    # One test session at a time drives the cluster (another one could stop it under us).
    # A user who cannot open the lock cannot start the cluster either: slurm.sh says why.
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(PermissionError):
            lock = stack.enter_context(open(LOCK, "a+"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        was_running = _sh("status").returncode == 0
        proc = _sh("--fake-gpus", "2", "start")
        print(proc.stdout + proc.stderr, file=sys.stderr)
        if proc.returncode in SKIP_CODES:
            pytest.skip(f"cannot start SLURM ({SKIP_CODES[proc.returncode]}): "
                        f"{proc.stderr.strip()}")
        if proc.returncode != 0:
            pytest.fail(f"tools/slurm.sh start failed (exit {proc.returncode}):\n"
                        f"{proc.stdout}{proc.stderr}")
        try:
            yield
        finally:
            if not was_running:
                stop = _sh("stop")
                print(stop.stdout + stop.stderr, file=sys.stderr)


def _diagnostics(workdir: Path) -> str:
    """What to look at when a run through SLURM fails: queue, job logs, daemon logs."""
    parts = []
    for cmd in (["squeue", "-t", "all", "-o", "%i %j %k %T %r"], ["sinfo", "-N", "-l"]):
        out = subprocess.run(cmd, capture_output=True, text=True)
        parts.append(f"$ {' '.join(cmd)}\n{out.stdout}{out.stderr}")
    for log in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))[-4:]:
        parts.append(f"--- {log}\n{log.read_text(errors='replace')[-3000:]}")
    for log in (Path("/var/log/slurm/slurmctld.log"), Path("/var/log/slurm/slurmd.log")):
        if log.exists():
            parts.append(f"--- {log}\n" + "\n".join(log.read_text().splitlines()[-20:]))
    return "\n".join(parts)


def run_on_slurm(workdir: Path, *args: str, **site: str) -> tuple[str, float]:
    """The workflow through SLURM in ``workdir``; returns Snakemake's output and seconds taken.

    Site values for the profile come from LONGTAIL_SLURM_* (``site`` sets them); those of the
    calling shell are dropped so that a developer's site settings do not leak into this test.
    What a job needs (memory, time, GPU) comes from the rules alone.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGTAIL_SLURM_")}
    env.update({f"LONGTAIL_SLURM_{k.upper()}": str(v) for k, v in site.items()})
    cmd = ["timeout", "-k", "10", str(RUN_TIMEOUT),
           sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(TINY),
           "--profile", str(PROFILE), *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env,
                          timeout=RUN_TIMEOUT + 60)
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        what = "timed out" if proc.returncode in (124, 137) else f"exit {proc.returncode}"
        pytest.fail(f"snakemake --profile profiles/slurm {what} after {seconds:.0f} s:\n"
                    f"{output[-6000:]}\n{_diagnostics(workdir)}")
    return output, seconds


def slurm_jobs(output: str) -> dict[str, Path]:
    """SLURM job id -> its log file, for every job Snakemake submitted in this run."""
    return {jobid: Path(log) for _, jobid, log in SUBMITTED.findall(output)}


def job_state(jobid: str) -> str:
    """State from slurmctld (jobs stay listed MinJobAge=300 s after they end)."""
    out = subprocess.run(["scontrol", "-o", "show", "job", jobid], capture_output=True,
                         text=True).stdout
    match = re.search(r"JobState=(\S+)", out)
    return match.group(1) if match else f"unknown ({out.strip() or 'not listed'})"


def outputs_made_in(log: Path) -> dict[str, str]:
    """Output file -> rule, for the jobs that the Snakemake inside a SLURM job ran."""
    made = {}
    for rule, outputs in re.findall(r"^(?:local)?rule (\w+):\n(?:\s+input: .*\n)?\s+output: (.+)$",
                                    log.read_text(errors="replace"), re.M):
        for path in outputs.split(", "):
            made[path.strip()] = rule
    return made


def check_all_training_in_slurm(workdir: Path, output: str) -> dict[str, Path]:
    """Every training output of this run was made inside a SLURM job that completed."""
    jobs = slurm_jobs(output)
    assert jobs, f"no job was submitted to SLURM:\n{output[-3000:]}"
    for rule in TRAINING_RULES:
        assert not re.search(rf"^localrule {rule}:", output, re.M), \
            f"{rule} ran on the submitting host, not in SLURM"
    made_in_slurm = {}
    for jobid, log in jobs.items():
        assert job_state(jobid) == "COMPLETED", f"SLURM job {jobid}: {job_state(jobid)}"
        assert log.exists(), f"SLURM log of job {jobid} missing: {log}"
        made_in_slurm.update({path: jobid for path in outputs_made_in(log)})
    shards = sorted(p.relative_to(workdir).as_posix()
                    for p in (workdir / "results" / "tiny" / "trials").glob("*.h5"))
    assert shards, "no trial shards were written"
    missing = [s for s in shards if s not in made_in_slurm]
    assert not missing, f"shards not made by a SLURM job: {missing}"
    assert TARGET in made_in_slurm
    return jobs


def assert_same_store(ours: Path, reference: Path) -> None:
    """The correctness stores hold identical arrays and attributes (wall times aside)."""
    with h5py.File(ours) as a, h5py.File(reference) as b:
        assert sorted(a) == sorted(b)
        for name in a:
            if name == "wall_time":
                continue
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
        assert dict(a.attrs).keys() == dict(b.attrs).keys()
        for key in a.attrs:
            assert np.array_equal(a.attrs[key], b.attrs[key]), key


@pytest.fixture(scope="module")
def slurm_study(slurm_cluster, tmp_path_factory):
    """The tiny study's correctness store, made through SLURM: (workdir, output, seconds)."""
    workdir = tmp_path_factory.mktemp("slurm-study")
    output, seconds = run_on_slurm(workdir, TARGET)
    jobs = slurm_jobs(output)
    print(f"\nSLURM e2e: {seconds:.0f} s, {len(jobs)} SLURM jobs", file=sys.stderr)
    return workdir, output, seconds


def test_every_training_job_ran_in_slurm(slurm_study):
    workdir, output, _ = slurm_study
    jobs = check_all_training_in_slurm(workdir, output)
    # 32 trials at 16 per job: two training jobs, not one per trial.
    training_jobs = [j for j, log in jobs.items() if "rule_train_trial_shard" in log.as_posix()]
    assert len(training_jobs) == 2, jobs


def training_job_records(output: str) -> list[str]:
    """`scontrol show job` of every training job the run submitted, one line each."""
    return [subprocess.run(["scontrol", "-o", "show", "job", jobid], capture_output=True,
                           text=True).stdout
            for jobid, log in slurm_jobs(output).items()
            if "rule_train_trial_shard" in log.as_posix()]


def test_training_jobs_asked_slurm_for_a_gpu(slurm_study):
    for out in training_job_records(slurm_study[1]):
        assert re.search(r"TresPerJob=\S*gpu:1|gres/gpu[:=]1", out), out


def test_jobs_asked_slurm_for_the_memory_their_rules_declare(slurm_study):
    """No memory in the profile: sbatch --mem comes from the rules' study-derived mem_mb."""
    for out in training_job_records(slurm_study[1]):
        assert f"MinMemoryNode={TRAINING_MEM_MB}M" in out, out


def test_slurm_store_equals_local_store(slurm_study, tiny_study):
    workdir, _, _ = slurm_study
    assert_same_store(workdir / TARGET, tiny_study / TARGET)


def test_shards_packed_into_one_job_give_the_same_store(slurm_study, tiny_study):
    """LONGTAIL_SLURM_SHARDS_PER_JOB=2: both shards in one SLURM job, same results."""
    workdir, _, _ = slurm_study
    output, seconds = run_on_slurm(workdir, TARGET, "--forcerun", "train_trial_shard",
                                   shards_per_job=2)
    jobs = check_all_training_in_slurm(workdir, output)
    training_jobs = [j for j, log in jobs.items() if "train_trial_shard" in log.as_posix()]
    assert len(training_jobs) == 1, jobs
    print(f"\nSLURM packed rerun: {seconds:.0f} s, {len(jobs)} SLURM jobs", file=sys.stderr)
    assert_same_store(workdir / TARGET, tiny_study / TARGET)


def test_shards_as_one_slurm_array_give_the_same_store(slurm_study, tiny_study):
    """``--slurm-array-jobs train_trial_shard``: both shards are tasks of one SLURM job array
    (one sbatch for thousands of one-trial shards), with the same results."""
    workdir, _, _ = slurm_study
    output, seconds = run_on_slurm(workdir, TARGET, "--forcerun", "train_trial_shard",
                                   "--slurm-array-jobs", "train_trial_shard")
    arrays = ARRAY_SUBMITTED.findall(output)
    assert len(arrays) == 1, f"expected one array job:\n{output[-3000:]}"
    _, array_id, first, last = arrays[0]
    assert (int(first), int(last)) == (1, 2), arrays
    assert not re.search(r"^localrule train_trial_shard:", output, re.M)
    tasks = subprocess.run(["scontrol", "-o", "show", "job", array_id], capture_output=True,
                           text=True).stdout.splitlines()
    assert len(tasks) == 2, tasks
    for task in tasks:
        assert f"ArrayJobId={array_id}" in task and "JobState=COMPLETED" in task, task
        assert re.search(r"TresPerJob=\S*gpu:1|gres/gpu[:=]1", task), task
    logs = sorted((workdir / ".snakemake" / "slurm_logs" / "rule_train_trial_shard")
                  .glob(f"{array_id}_*.log"))
    assert len(logs) == 2, logs
    made = {path for log in logs for path in outputs_made_in(log)}
    shards = {p.relative_to(workdir).as_posix()
              for p in (workdir / "results" / "tiny" / "trials").glob("*.h5")}
    assert shards and shards <= made, (shards, made)
    print(f"\nSLURM array rerun: {seconds:.0f} s", file=sys.stderr)
    assert_same_store(workdir / TARGET, tiny_study / TARGET)
