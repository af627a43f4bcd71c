"""Which training examples does a test example depend on, and which test examples does a
training example influence? Top-k tables from ``estimates.h5`` (``longtail explain``).

Influence here is Alg. 1 line 7, infl~(i, j); with same-class estimates (the default) only
training examples of the test example's label are candidates (Section 2 selects only those).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from longtail.data.errors import DataError
from longtail.data.layout import open_h5
from longtail.estimators.estimates import Estimates, EstimatesError, load_influence, read_estimates
from longtail.reporting.plots.gallery import draw_row_gallery

INFLUENCER_COLUMNS = ("train_index", "train_source_index", "label", "infl", "infl_se", "mem",
                      "mem_se")
INFLUENCED_COLUMNS = ("test_index", "test_source_index", "label", "infl", "infl_se")


def _check(estimates: Estimates, path: str | os.PathLike, split: str, index: int) -> None:
    if estimates.attrs["influence"] == "none":
        raise EstimatesError(f"{path}: holds no influence estimates (influence = none)")
    size = len(estimates.mem) if split == "train" else len(estimates.test_labels)
    if not 0 <= index < size:
        raise EstimatesError(f"{path}: {split} index {index} is outside 0..{size - 1}")


def top_k(infl: np.ndarray, k: int, index: np.ndarray | None = None) -> np.ndarray:
    """Along the last axis: positions of the k largest finite values, largest first, ties by
    ``index`` (same shape; default the position); -1 where fewer than k values are finite."""
    infl = np.asarray(infl, np.float64)
    finite = np.isfinite(infl)
    if index is None:
        index = np.broadcast_to(np.arange(infl.shape[-1]), infl.shape)
    order = np.lexsort((index, np.where(finite, -infl, np.inf)), axis=-1)[..., :k]
    return np.where(np.take_along_axis(finite, order, -1), order, -1)


def _top(infl: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest finite values, largest first (ties by position)."""
    top = top_k(infl, k)
    return top[top >= 0]


def influencers(path: str | os.PathLike, test_index: int, k: int = 10) -> pd.DataFrame:
    """The ``k`` training examples with the highest influence on test example ``test_index``,
    with their labels, infl ± se and mem ± se."""
    estimates = read_estimates(path)
    _check(estimates, path, "test", test_index)
    label = estimates.test_labels[test_index]
    candidates = np.arange(len(estimates.mem)) if estimates.attrs["influence"] == "full" \
        else np.flatnonzero(estimates.train_labels == label)
    infl = load_influence(path, candidates, [test_index])[:, 0]
    se = load_influence(path, candidates, [test_index], se=True)[:, 0]
    top = _top(infl, k)
    rows = candidates[top]
    return pd.DataFrame({
        "train_index": rows, "train_source_index": estimates.train_source_index[rows],
        "label": estimates.train_labels[rows], "infl": infl[top].astype(np.float64),
        "infl_se": se[top].astype(np.float64), "mem": estimates.mem[rows],
        "mem_se": estimates.mem_se[rows]}, columns=list(INFLUENCER_COLUMNS))


def influenced(path: str | os.PathLike, train_index: int, k: int = 10) -> pd.DataFrame:
    """The ``k`` test examples training example ``train_index`` influences most."""
    estimates = read_estimates(path)
    _check(estimates, path, "train", train_index)
    label = estimates.train_labels[train_index]
    candidates = np.arange(len(estimates.test_labels)) \
        if estimates.attrs["influence"] == "full" \
        else np.flatnonzero(estimates.test_labels == label)
    infl = load_influence(path, [train_index], candidates)[0]
    se = load_influence(path, [train_index], candidates, se=True)[0]
    top = _top(infl, k)
    cols = candidates[top]
    return pd.DataFrame({
        "test_index": cols, "test_source_index": estimates.test_source_index[cols],
        "label": estimates.test_labels[cols], "infl": infl[top].astype(np.float64),
        "infl_se": se[top].astype(np.float64)}, columns=list(INFLUENCED_COLUMNS))


def describe(estimates: Estimates, split: str, index: int,
             class_names: list[str] | None = None) -> str:
    """One line about the example being explained."""
    if split == "test":
        label = int(estimates.test_labels[index])
        source = int(estimates.test_source_index[index])
        extra = ""
    else:
        label = int(estimates.train_labels[index])
        source = int(estimates.train_source_index[index])
        extra = f", mem {estimates.mem[index]:.3f} ± {estimates.mem_se[index]:.3f}"
    name = f" ({class_names[label]})" if class_names and 0 <= label < len(class_names) else ""
    return f"{split} example {index} (source index {source}), label {label}{name}{extra}"


def format_table(frame: pd.DataFrame) -> str:
    """The table as ``longtail explain`` prints it: ± columns joined, 3 decimals."""
    shown = pd.DataFrame({name: frame[name] for name in frame.columns
                          if name not in ("infl", "infl_se", "mem", "mem_se")})
    shown["infl ± se"] = [_pm(v, s) for v, s in zip(frame["infl"], frame["infl_se"],
                                                     strict=True)]
    if "mem" in frame:
        shown["mem ± se"] = [_pm(v, s) for v, s in zip(frame["mem"], frame["mem_se"],
                                                        strict=True)]
    return shown.to_string(index=False) if len(shown) else "(no estimated pairs)"


def _pm(value: float, se: float) -> str:
    return f"{value:.3f}" if not np.isfinite(se) else f"{value:.3f} ± {se:.3f}"


def example_images(data_path: str | os.PathLike, split: str, index: np.ndarray,
                   source_index: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Images of examples ``index`` of ``split`` and the class names, from a study data file
    (``results/{study}/data.h5``, rows = our indices) or a dataset cache
    (``resources/<dataset>.h5``, rows = original-split indices, for released estimates)."""
    study_key, cache_key = f"x_{split}", f"{split}_images"
    h5 = open_h5(data_path, "study data file or dataset cache")
    with h5:
        if study_key in h5:
            name, rows = study_key, np.asarray(index, np.int64)
        elif cache_key in h5:
            name, rows = cache_key, np.asarray(source_index, np.int64)
        else:
            raise DataError(f"{data_path}: holds neither {study_key} (a study data file) nor "
                            f"{cache_key} (a dataset cache)")
        images = h5[name]
        if len(rows) and (rows.min() < 0 or rows.max() >= len(images)):
            raise DataError(f"{data_path}: {name} has {len(images)} rows; these estimates "
                            f"need row {int(rows.max())} (another study's data?)")
        unique, inverse = np.unique(rows, return_inverse=True)
        try:
            picked = images[unique][inverse] if len(unique) else np.zeros((0, 1, 1, 1), np.uint8)
            classes = [str(c) for c in h5["classes"].asstr()[()]] if "classes" in h5 else []
        except (OSError, ValueError) as err:
            raise DataError(f"{data_path}: cannot read {name} ({err}); the file is "
                            f"corrupt") from err
    return picked, classes


def class_names(data_path: str | os.PathLike) -> list[str]:
    """The class names a study data file or dataset cache records ([] if none)."""
    with open_h5(data_path, "study data file or dataset cache") as h5:
        try:
            return [str(c) for c in h5["classes"].asstr()[()]] if "classes" in h5 else []
        except (OSError, ValueError) as err:
            raise DataError(f"{data_path}: cannot read classes ({err})") from err


def draw_explanation(path: str | os.PathLike, data_path: str | os.PathLike, split: str,
                     index: int, table: pd.DataFrame) -> Figure:
    """The explained example (framed) followed by the examples of ``table`` with their
    influence and (for training examples) memorization."""
    estimates = read_estimates(path)
    other = "train" if split == "test" else "test"
    own_source = (estimates.test_source_index if split == "test"
                  else estimates.train_source_index)[index]
    query, classes = example_images(data_path, split, np.array([index]), np.array([own_source]))
    images, _ = example_images(data_path, other, table[f"{other}_index"].to_numpy(),
                               table[f"{other}_source_index"].to_numpy())

    def name(label: int) -> str:
        return classes[label] if 0 <= label < len(classes) else str(label)

    labels = estimates.test_labels if split == "test" else estimates.train_labels
    titles = [f"{split} {index}\n{name(int(labels[index]))}"]
    for _, row in table.iterrows():
        line = f"{other} {int(row[f'{other}_index'])}\ninfl {_pm(row['infl'], row['infl_se'])}"
        if "mem" in row:
            line += f"\nmem {row['mem']:.2f}"
        titles.append(line)
    heading = ("training examples that influence " if split == "test"
               else "test examples influenced by ") + describe(estimates, split, index, classes)
    return draw_row_gallery([(heading, [query[0], *images], titles)], highlight_first=True)
