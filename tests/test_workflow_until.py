"""End to end: a tiny study that trains until its findings replicate (`trials: {until: ...}`)
stops at the first round that reaches its target, equals the study of that fixed t, resumes
after kill -9 without retraining finished shards, and refuses a bad spec before any job."""

from __future__ import annotations

import json
import os
import signal

import h5py
import numpy as np
import pytest
import yaml
from conftest import changed_config, snakemake
from test_faults_workflow import no_slurm_probe, seeded, start, wait_for  # noqa: F401

pytestmark = pytest.mark.e2e

# The tiny study's memorized set at θ_mem 0.1 has split-half Jaccard 0.36 at t = 16 and 0.42
# at t = 32 (its trials curve): with target 0.4 it stops after round 1, at the fixed study's
# t = 32.
UNTIL = {"until": {"memorized": 0.4}, "step": 16, "max": 64}


def until_config(tmp_path, spec=UNTIL, name="until.yaml"):
    def edit(config):
        config["studies"]["tiny"].update(trials=spec, min_out_trials=4)
        config["lastlayer"]["studies"] = []
        config["thresholds"]["mem"] = 0.1
    return changed_config(tmp_path, name, edit)


def datasets(path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file, groups walked, but the trials' wall times."""
    found: dict[str, np.ndarray] = {}
    with h5py.File(path) as h5:
        h5.visititems(lambda name, obj: found.__setitem__(name, obj[()])
                      if isinstance(obj, h5py.Dataset) and name != "wall_time" else None)
    return found


def test_stops_at_the_first_round_that_replicates_and_resumes_after_kill(tiny_study,
                                                                          tmp_path):
    workdir = seeded(tmp_path / "until", tiny_study)
    config = until_config(tmp_path)
    out = tmp_path / "first.out"
    # kill -9 the whole run while round 1 trains (round 0's verdict written)
    run = start(workdir, config, out, "--cores", "2", "results/tiny/summary.json")
    first_verdict = workdir / "results" / "tiny" / "rounds" / "0.json"
    wait_for(first_verdict.exists, run, out, timeout=600)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    snakemake(workdir, config, "--unlock")
    shards = workdir / "results" / "tiny" / "trials"
    finished = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.h5")}
    assert {"0-16.h5"} <= set(finished)

    # resumed as an interrupted run is (docs/slurm.md): outputs the kill left unmarked rerun
    snakemake(workdir, config, "--rerun-incomplete", "results/tiny/summary.json",
              "figures/trials_curve_tiny.pdf")
    assert {p.name: p.stat().st_mtime_ns for p in shards.glob("*.h5")
            if p.name in finished} == finished  # nothing finished was trained again
    results = workdir / "results" / "tiny"
    verdicts = [json.loads((results / "rounds" / f"{r}.json").read_text()) for r in (0, 1)]
    assert [v["t"] for v in verdicts] == [16, 32]
    assert [v["reached"] for v in verdicts] == [False, True]
    assert not (results / "rounds" / "2.json").exists()
    assert sorted(p.name for p in shards.glob("*.h5")) == ["0-16.h5", "16-32.h5"]

    # the same trials, estimates and selection as the study with trials: 32
    fixed = tiny_study / "results" / "tiny"
    for name in ("correctness.h5", "estimates.h5"):
        got, expected = datasets(results / name), datasets(fixed / name)
        assert got.keys() == expected.keys()
        for key in got:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{name}:{key}")
    summary = json.loads((results / "summary.json").read_text())
    until = summary["trials_until"]
    assert {k: until[k] for k in ("target", "set", "reached", "t", "rounds")} == {
        "target": 0.4, "set": "memorized", "reached": True, "t": 32, "rounds": 2}
    assert until["reason"].startswith("reached at t = 32")
    assert "2 rounds, t = 32" in summary["reliability_note"]
    assert "2 rounds, t = 32" in (results / "selection.rst").read_text()


def test_a_bad_spec_is_refused_before_any_job_naming_the_key(tmp_path):
    """Every bad spec is named (tests/test_until.py); here: the workflow refuses it first."""
    spec = {"until": {"pairs": 0.7}, "step": 32, "max": 16}
    proc = snakemake(tmp_path / "bad", until_config(tmp_path, spec), "--dry-run", check=False)
    assert proc.returncode != 0
    assert "studies.tiny.trials.max = 16 is smaller than studies.tiny.trials.step = 32" in \
        proc.stdout + proc.stderr
    assert not (tmp_path / "bad" / "results").exists()


def test_the_last_layer_of_an_until_study_is_refused(tmp_path):
    config = changed_config(tmp_path, "ll.yaml", lambda c: c["studies"]["tiny"].update(
        trials=UNTIL, min_out_trials=4))
    assert yaml.safe_load(config.read_text())["lastlayer"]["studies"] == ["tiny"]
    proc = snakemake(tmp_path / "ll", config, "--dry-run", check=False)
    assert proc.returncode != 0
    assert "lastlayer.studies names study 'tiny', whose trials train until a target" in \
        proc.stdout + proc.stderr
