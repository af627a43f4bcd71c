"""The one HDF5 layer (``longtail.store.h5``) under every file format: each format, written by its
own writer from tiny arrays, carries a Fletcher-32 checksum on every dataset and the ``complete``
marker; a flipped byte in any dataset, or a missing marker, is refused by its reader with the
file (and the dataset) named."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import fabricate as fab
import h5py
import numpy as np
import pytest
from test_faults import flip_byte

from longtail.data import load_study_data, make_study_data
from longtail.data.cache import read_cache
from longtail.data.errors import DataError
from longtail.estimators.estimates import (
    EstimatesError,
    compute_estimates,
    iter_influence,
    load_influence,
    read_estimates,
    write_estimates,
)
from longtail.estimators.removal import RemovalError, plan_part, read_removal, write_removal
from longtail.store import h5 as layer
from longtail.store.correctness import (
    CorrectnessStore,
    StoreError,
    StoreReader,
    TrialResults,
    read_shard,
    read_store,
    write_shard,
    write_store,
)
from longtail.train.lastlayer import Representations, read_representations, write_representations

ATTRS = {"dataset": "d", "arch": "a", "n": 6, "n_test": 4, "subset_size": 3,
         "fingerprint": "abc", "study_config": {"seed": 0}}


def tiny_trials(t: int = 4, n: int = 6, n_test: int = 4, seed: int = 0) -> TrialResults:
    rng = np.random.default_rng(seed)
    return TrialResults(
        trial=np.arange(t), trial_seed=np.arange(t) + 10, mask=rng.random((t, n)) < 0.5,
        train_correct=rng.random((t, n)) < 0.7, test_correct=rng.random((t, n_test)) < 0.6,
        test_accuracy=rng.random(t), wall_time=rng.random(t), diverged=np.zeros(t, bool),
        train_prediction=rng.integers(0, 2, (t, n)))


def tiny_store(t: int = 4) -> CorrectnessStore:
    return CorrectnessStore(trials=tiny_trials(t), train_labels=np.arange(6) % 2,
                            test_labels=np.arange(4) % 2, train_source_index=np.arange(6) * 3,
                            test_source_index=np.arange(4) * 5,
                            train_label_flipped=np.zeros(6, bool), attrs=ATTRS)


# ----------------------------------------------------------------- one writer and reader each

def write_store_file(folder: Path) -> Path:
    write_store(folder / "correctness.h5", tiny_store())
    return folder / "correctness.h5"


def write_shard_file(folder: Path) -> Path:
    write_shard(folder / "0-4.h5", tiny_trials(), ATTRS)
    return folder / "0-4.h5"


def write_estimates_file(influence: str) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / f"estimates-{influence}.h5"
        write_estimates(path, *compute_estimates(tiny_store(t=8), influence=influence,
                                                 min_trials=1))
        return path
    return write


def read_blocks(path: Path) -> None:
    """What estimation reads of a store: blocks of trials through StoreReader."""
    with StoreReader(path) as store:
        for name in BLOCK_READS:
            store.array(name, slice(0, 2))
            store.array(name, slice(2, None))


def read_estimates_file(path: Path) -> None:
    """Everything estimates.h5 holds: the per-example part, then every influence block."""
    estimates = read_estimates(path)
    list(iter_influence(path))
    if estimates.attrs["influence"] == "full":
        load_influence(path, [0, 1], [0, 1])


def write_cache_file(folder: Path) -> Path:
    fab.synthetic_cache(folder / "cache.h5", np.arange(12) % 3, np.arange(6) % 3,
                        num_classes=3)
    return folder / "cache.h5"


def write_study_data_file(folder: Path) -> Path:
    make_study_data(write_cache_file(folder), folder / "data.h5", n_train=9, n_test=6,
                    label_noise=0.2, seed=0)
    return folder / "data.h5"


def write_removal_file(folder: Path) -> Path:
    n, n_test = 6, 4
    removed = np.zeros(n, bool)
    removed[:2] = True
    plan = plan_part("mem-0.25", 0, n, range(2), removed)
    runs = len(plan.kind)
    rng = np.random.default_rng(0)
    write_removal(folder / "0-2.h5", plan, rng.random((runs, n_test)) < 0.5, rng.random(runs),
                  np.zeros(runs, bool), {"part": "mem-0.25", "threshold": 0.25, "removed": 2,
                                         "n": n, "n_test": n_test, "fingerprint": "abc",
                                         "study_config": "{}"})
    return folder / "0-2.h5"


def write_representations_file(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    write_representations(folder / "representations.h5", Representations(
        train=rng.random((6, 5), np.float32), test=rng.random((4, 5), np.float32),
        train_labels=np.arange(6) % 2, test_labels=np.arange(4) % 2,
        full_train_correct=np.ones(6, bool), full_test_correct=np.zeros(4, bool),
        attrs={"dataset": "d", "arch": "a", "num_classes": 2}))
    return folder / "representations.h5"


# format: (writer, reader, the format's error)
FORMATS: dict[str, tuple[Callable[[Path], Path], Callable[[Path], object], type[Exception]]] = {
    "store": (write_store_file, read_store, StoreError),
    "store (blocks)": (write_store_file, lambda path: read_blocks(path), StoreError),
    "shard": (write_shard_file, read_shard, StoreError),
    "estimates (same-class)": (write_estimates_file("same-class"), read_estimates_file,
                               EstimatesError),
    "estimates (full)": (write_estimates_file("full"), read_estimates_file, EstimatesError),
    "data cache": (write_cache_file, read_cache, DataError),
    "study data": (write_study_data_file, load_study_data, DataError),
    "removal shard": (write_removal_file, lambda path: read_removal([path]), RemovalError),
    "representations": (write_representations_file, read_representations, StoreError),
}
BLOCK_READS = ("mask", "train_correct", "test_correct", "trial")


def datasets(path: Path) -> list[str]:
    names: list[str] = []
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: names.append(name)
                      if isinstance(obj, h5py.Dataset) else None)
    return names


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    """Each format written once by its own writer; tests break copies."""
    out = {}
    for name, (writer, _, _) in FORMATS.items():
        folder = tmp_path_factory.mktemp(re.sub(r"\W+", "_", name))
        out[name] = writer(folder)
    return out


def copy(original: Path, folder: Path) -> Path:
    path = folder / original.name
    path.write_bytes(original.read_bytes())
    return path


CASES = [("store", name) for name in ("trial", "trial_seed", "mask", "train_correct",
                                      "test_correct", "test_accuracy", "wall_time", "diverged",
                                      "subset_accuracy", "train_prediction", "train_labels",
                                      "test_labels", "train_source_index", "test_source_index",
                                      "train_label_flipped")]
CASES += [("store (blocks)", name) for name in BLOCK_READS]
CASES += [("shard", name) for name in ("trial", "mask", "test_correct", "diverged",
                                       "train_prediction")]
CASES += [("estimates (same-class)", name) for name in
          ("mem", "mem_se", "n_in", "n_out", "train_labels", "test_labels", "p_out",
           "p_in", "test_hits", "suggested_label", "infl_same_class/0/infl",
           "infl_same_class/1/infl_se", "infl_same_class/1/train_index",
           "infl_same_class/0/test_index")]
CASES += [("estimates (full)", name) for name in ("mem", "infl", "infl_se")]
CASES += [("data cache", name) for name in ("train_images", "train_labels", "train_index",
                                            "test_images", "test_labels", "test_index",
                                            "classes")]
CASES += [("study data", name) for name in ("x_train", "y_train", "y_train_clean",
                                            "train_source_index", "train_label_flipped",
                                            "x_test", "y_test", "test_source_index", "classes")]
CASES += [("removal shard", name) for name in ("kind", "repeat", "seed", "mask",
                                               "test_correct", "test_accuracy", "wall_time",
                                               "diverged")]
CASES += [("representations", name) for name in ("train", "test", "train_labels",
                                                  "test_labels", "full_train_correct",
                                                  "full_test_correct")]


def test_every_dataset_of_every_format_is_checksummed_and_marked_complete(originals):
    for name, path in originals.items():
        with h5py.File(path, "r") as h5:
            assert h5.attrs["complete"], name
            for dataset in datasets(path):
                assert h5[dataset].fletcher32, f"{name}: {dataset}"
    # the flip cases below cover every dataset of each format (of a same-class group's four
    # datasets some are taken from each group; full mode shares the per-example datasets)
    for name in ("store", "data cache", "study data", "removal shard", "representations"):
        assert set(datasets(originals[name])) == {ds for fmt, ds in CASES if fmt == name}


@pytest.mark.parametrize(("fmt", "dataset"), CASES)
def test_flipped_byte_is_refused_naming_file_and_dataset(originals, tmp_path, fmt, dataset):
    _, reader, error = FORMATS[fmt]
    path = copy(originals[fmt], tmp_path)
    reader(path)  # reads cleanly before
    flip_byte(path, dataset)
    with pytest.raises(error, match=rf"^{re.escape(str(path))}: cannot read "
                                    rf"'{re.escape(dataset)}' \(.*\); the file is corrupt"):
        reader(path)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_file_without_the_complete_marker_is_refused(originals, tmp_path, fmt):
    _, reader, error = FORMATS[fmt]
    path = copy(originals[fmt], tmp_path)
    with h5py.File(path, "r+") as h5:
        del h5.attrs["complete"]
    with pytest.raises(error, match=rf"^{re.escape(str(path))}: .* is incomplete \(no "
                                    r"'complete' attribute"):
        reader(path)


def test_a_users_own_store_needs_no_marker(tmp_path):
    """docs/formats.md: a store of one's own (no attributes) is read; only the files this
    project writes (they record a fingerprint) must carry ``complete``."""
    store = tiny_store()
    with h5py.File(tmp_path / "own.h5", "w") as h5:
        for name in ("mask", "train_correct", "test_correct"):
            h5[name] = getattr(store, name)
        h5["train_labels"], h5["test_labels"] = store.train_labels, store.test_labels
    np.testing.assert_array_equal(read_store(tmp_path / "own.h5").mask, store.mask)


def test_writer_interrupted_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), layer.create(tmp_path / "x.h5") as h5:
        layer.create_dataset(h5, "a", np.arange(3))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_layer_refuses_what_it_cannot_checksum(tmp_path):
    with layer.create(tmp_path / "x.h5") as h5:
        with pytest.raises(ValueError, match="scalar"):
            layer.create_dataset(h5, "s", np.float64(1.0))
        with pytest.raises(ValueError, match="variable-length"):
            layer.create_dataset(h5, "v", np.array(["a"], dtype=h5py.string_dtype()))
        for shape in ((0,), (0, 3), (3, 0)):  # empty arrays are checksummed too
            assert layer.create_dataset(h5, f"e{shape}", np.zeros(shape)).fletcher32
        names = layer.strings(["ä", "bc", ""])
        layer.create_dataset(h5, "names", names)
    with layer.open_file(tmp_path / "x.h5", ValueError) as h5:
        assert layer.read_strings(h5, "names", tmp_path / "x.h5", ValueError) == ["ä", "bc", ""]


def test_row_chunks_keep_whole_rows_of_about_a_mebibyte():
    assert layer.row_chunks((100_000, 1000), 1) == (1048, 1000)
    assert layer.row_chunks((10, 1000), 8) == (10, 1000)
    assert layer.row_chunks((0, 5), 8) is True
    assert layer.row_chunks((5, 10**7), 1) is True
