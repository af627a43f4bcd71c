"""What several reporting stages read from a study's results: paths grouped by study, the
study's label noise."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from longtail.data import load_study_data
from longtail.reporting.errors import ReportingError

PathLike = str | os.PathLike


def read_label_noise(data_path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(flipped, original): which training labels the study's label noise flipped (n,) bool,
    and every example's original label (n,), from the study data file."""
    data = load_study_data(data_path)
    return np.asarray(data.train_label_flipped, bool), np.asarray(data.y_train_clean, np.int64)


def by_study(paths: Sequence[PathLike], studies: Sequence[str]) -> dict[str, list[str]]:
    """Group ``results/{study}/...`` paths by study (a path belongs to the study named by one of
    its folders)."""
    groups: dict[str, list[str]] = {study: [] for study in studies}
    for path in map(str, paths):
        owners = [study for study in studies if study in Path(path).parts]
        if len(owners) != 1:
            raise ReportingError(f"{path} belongs to none or several of the studies "
                                 f"{list(studies)}")
        groups[owners[0]].append(path)
    return groups
