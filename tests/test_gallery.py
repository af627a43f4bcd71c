"""The report's galleries (issue 14, item 5): per class the most memorized training examples,
and a page of the strongest pairs, drawn from a study's estimates, pairs and data."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from test_estimates import make_store, write

from longtail.data.cache import Converted, SplitSource, write_cache
from longtail.data.study_data import make_study_data
from longtail.estimators.estimates import estimate_store, read_estimates
from longtail.estimators.select import select_pairs_file
from longtail.reporting.gallery import most_memorized, write_galleries


def study_data(tmp_path: Path, n: int, n_test: int, train_labels: np.ndarray,
               test_labels: np.ndarray) -> Path:
    rng = np.random.default_rng(1)

    def split(labels: np.ndarray) -> SplitSource:
        images = rng.integers(0, 255, (len(labels), 6, 6, 1), dtype=np.uint8)
        return SplitSource(len(labels), (6, 6, 1), np.arange(len(labels)), [(images, labels)])

    cache = tmp_path / "cache.h5"
    write_cache(cache, "custom", Converted(split(train_labels), split(test_labels),
                                           ["zero", "one", "two"]), {})
    out = tmp_path / "data.h5"
    make_study_data(cache, out, n_train=None, n_test=None, label_noise=0.0, seed=0)
    return out


def test_galleries(tmp_path: Path) -> None:
    store = make_store(seed=3, t=120, n=30, n_test=12)
    est_path = tmp_path / "estimates.h5"
    estimate_store(write(tmp_path, store), est_path)
    data = study_data(tmp_path, 30, 12, store.train_labels, store.test_labels)
    pairs = tmp_path / "pairs.csv"
    select_pairs_file(est_path, pairs, 0.0, 0.1)
    with h5py.File(est_path, "a") as h5:  # a suggested label, as estimates may record it
        h5["suggested_label"] = np.full(30, 1)
    written = write_galleries(est_path, data, pairs, tmp_path / "classes",
                              tmp_path / "pairs.png", examples=3, pairs=4)
    assert [p.name for p in written] == [f"class_{c:04d}.png" for c in
                                         np.unique(store.train_labels)]
    for path in [*written, tmp_path / "pairs.png"]:
        assert path.read_bytes()[:4] == b"\x89PNG"
    est = read_estimates(est_path)
    top = most_memorized(est, 0, 3)
    members = np.flatnonzero(est.train_labels == 0)
    assert est.mem[top].tolist() == sorted(est.mem[members], reverse=True)[:3]
    assert len(pd.read_csv(pairs)) > 0
