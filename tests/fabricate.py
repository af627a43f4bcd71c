"""Small dataset files in the real original formats, and a loopback HTTP mirror to serve them.

Everything is generated at test time (no committed binary blobs): MNIST-style idx.gz files,
CIFAR-10/100 python tar.gz archives and ILSVRC2012-style devkit/train/val archives.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import socket
import sys
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from longtail.data.cache import write_cache
from longtail.data.convert import Converted, SplitSource

MNIST_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@dataclass
class Fabricated:
    """Original files written to ``folder``, their md5s and the arrays a cache must hold."""

    folder: Path
    checksums: dict[str, str]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: list[str]
    extra: dict = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        return [self.folder / name for name in self.checksums if (self.folder / name).is_file()]


def _gzip(path: Path, payload: bytes) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(path.name[:-3], "wb", fileobj=raw, mtime=0) as gz:
        gz.write(payload)


def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file (big-endian magic 0x0000 08 <ndim>, then the dims) holding uint8 ``array``."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = (0x08 << 8) | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def mnist_files(folder: Path, n_train: int = 30, n_test: int = 10, seed: int = 0) -> Fabricated:
    """The four MNIST/Fashion-MNIST idx.gz files with random 28x28 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        rng.shuffle(labels)
        _gzip(folder / f"{split}-images-idx3-ubyte.gz", idx_bytes(images))
        _gzip(folder / f"{split}-labels-idx1-ubyte.gz", idx_bytes(labels))
        arrays[split] = images[..., None], labels.astype(np.int64)
    return Fabricated(folder, {name: md5(folder / name) for name in MNIST_NAMES},
                      *arrays["train"], *arrays["t10k"], classes=[])


def _add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def cifar_archive(folder: Path, dataset: str = "cifar10", per_batch: int = 4, n_test: int = 6,
                  seed: int = 0, extra_member: tarfile.TarInfo | None = None) -> Fabricated:
    """``cifar-10-python.tar.gz`` or ``cifar-100-python.tar.gz`` in the python pickle layout."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ten = dataset == "cifar10"
    base = "cifar-10-batches-py" if ten else "cifar-100-python"
    num_classes = 10 if ten else 100
    label_key = "labels" if ten else "fine_labels"
    train_names = [f"data_batch_{i}" for i in range(1, 6)] if ten else ["train"]
    test_name = "test_batch" if ten else "test"
    meta_name, meta_key = ("batches.meta", "label_names") if ten else ("meta", "fine_label_names")
    classes = [f"class{k:03d}" for k in range(num_classes)]
    members: dict[str, bytes] = {}
    arrays: dict[str, list] = {"train": [], "test": []}
    batches = [(name, per_batch * (1 if ten else 5), "train") for name in train_names]
    for name, n, split in [*batches, (test_name, n_test, "test")]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(x) for x in rng.integers(0, num_classes, size=n)]
        entry = {"batch_label": name, label_key: labels, "data": data}
        if not ten:
            entry["coarse_labels"] = [label // 5 for label in labels]
        members[name] = pickle.dumps(entry, protocol=2)
        arrays[split].append((data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels))
    members[meta_name] = pickle.dumps({meta_key: classes, "num_cases_per_batch": per_batch},
                                      protocol=2)
    archive = folder / ("cifar-10-python.tar.gz" if ten else "cifar-100-python.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for name, payload in members.items():
            _add_bytes(tar, f"{base}/{name}", payload)
        if extra_member is not None:
            tar.addfile(extra_member, io.BytesIO(b"x" * extra_member.size))
    checksums = {archive.name: md5(archive),
                 **{name: hashlib.md5(payload).hexdigest() for name, payload in members.items()}}

    def stack(split: str) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([a for a, _ in arrays[split]]),
                np.concatenate([np.asarray(b, dtype=np.int64) for _, b in arrays[split]]))

    return Fabricated(folder, checksums, *stack("train"), *stack("test"), classes=classes)


def truncate(path: Path, keep: float = 0.6) -> str:
    """Cut ``path`` to ``keep`` of its length; return the md5 of what is left."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return md5(path)


# ---------------------------------------------------------------- ImageNet (ILSVRC2012 layout)

IMAGENET_WNIDS = ("n01000001", "n01000002", "n01000003")
DEVKIT, TRAIN_TAR, VAL_TAR = ("ILSVRC2012_devkit_t12.tar.gz", "ILSVRC2012_img_train.tar",
                              "ILSVRC2012_img_val.tar")


def _jpeg(color: tuple[int, int, int], size: tuple[int, int], gray: bool = False) -> bytes:
    image = Image.new("RGB", size, color)
    if gray:
        image = image.convert("L")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def _meta_mat(path: Path, wnids: tuple[str, ...]) -> None:
    """``meta.mat`` with one leaf synset per wnid (ids 1..k) and one parent synset."""
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children",
              "wordnet_height", "num_train_images"]
    synsets = np.zeros(len(wnids) + 1, dtype=[(name, object) for name in fields])
    for i, wnid in enumerate(wnids):
        synsets[i] = (i + 1, wnid, f"thing {i}, object {i}", "a thing", 0,
                      np.zeros(0, dtype=np.uint8), 0, 3)
    synsets[-1] = (len(wnids) + 1, "n09999999", "entity", "everything", len(wnids),
                   np.arange(1, len(wnids) + 1, dtype=np.uint8), 1, 0)
    scipy.io.savemat(path, {"synsets": synsets})


def imagenet_archives(folder: Path, per_class: int = 2, n_val: int = 6,
                      inner_extra: tarfile.TarInfo | None = None,
                      val_missing: int = 0) -> Fabricated:
    """Devkit, train tar of per-class tars and val tar, as ILSVRC2012 ships them.

    Every image is one solid colour, so resizing keeps it; the last train image of each class
    is grayscale. ``inner_extra`` is added to the first class's inner tar (e.g. a path escape);
    the val tar lacks the last ``val_missing`` of the images the ground truth lists.
    """
    folder.mkdir(parents=True, exist_ok=True)
    wnids = IMAGENET_WNIDS
    staging = folder / ".devkit"
    (staging / "ILSVRC2012_devkit_t12" / "data").mkdir(parents=True)
    _meta_mat(staging / "ILSVRC2012_devkit_t12" / "data" / "meta.mat", wnids)
    val_labels = np.arange(n_val) % len(wnids)
    (staging / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt"
     ).write_text("".join(f"{label + 1}\n" for label in val_labels))
    with tarfile.open(folder / DEVKIT, "w:gz") as tar:
        tar.add(staging / "ILSVRC2012_devkit_t12", arcname="ILSVRC2012_devkit_t12")
    train_colors, train_labels = [], []
    with tarfile.open(folder / TRAIN_TAR, "w") as outer:
        for k, wnid in enumerate(wnids):
            inner_bytes = io.BytesIO()
            with tarfile.open(fileobj=inner_bytes, mode="w") as inner:
                for j in range(per_class):
                    gray = j == per_class - 1
                    color = (40 + 60 * k, 200 - 50 * j, 90) if not gray else (120, 120, 120)
                    size = (12, 9) if j % 2 else (9, 14)
                    _add_bytes(inner, f"{wnid}_{j + 1}.JPEG", _jpeg(color, size, gray))
                    train_colors.append(color)
                    train_labels.append(k)
                if inner_extra is not None and k == 0:
                    inner.addfile(inner_extra, io.BytesIO(b"x" * inner_extra.size))
            _add_bytes(outer, f"{wnid}.tar", inner_bytes.getvalue())
    val_colors = [(30 + 35 * j, 220 - 30 * j, 20 + 40 * (j % 4)) for j in range(n_val)]
    with tarfile.open(folder / VAL_TAR, "w") as tar:
        for j in reversed(range(n_val - val_missing)):  # out of order; the cache sorts by name
            _add_bytes(tar, f"ILSVRC2012_val_{j + 1:08d}.JPEG", _jpeg(val_colors[j], (10, 13)))
    for path in sorted(staging.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    staging.rmdir()
    checksums = {name: md5(folder / name) for name in (DEVKIT, TRAIN_TAR, VAL_TAR)}
    return Fabricated(folder, checksums, np.array(train_colors, dtype=np.int64),
                      np.array(train_labels, dtype=np.int64), np.array(val_colors, dtype=np.int64),
                      val_labels.astype(np.int64),
                      classes=[f"{w}: thing {i}, object {i}" for i, w in enumerate(wnids)])


# ---------------------------------------------------------------- loopback mirror

@dataclass
class Mirror:
    url: str
    requests: list[str]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients that hang up early (torchvision's redirect probe does) are not errors."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve_directory(root: Path) -> Iterator[Mirror]:
    """Serve ``root`` over HTTP on 127.0.0.1 (threaded); record every requested path."""
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def send_head(self):
            requests.append(self.path)
            return super().send_head()

        def log_message(self, *args) -> None:
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield Mirror(f"http://127.0.0.1:{server.server_address[1]}/", requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refused_url() -> str:
    """A loopback URL on which nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ---------------------------------------------------------------- caches without originals

def skewed_labels(n: int, num_classes: int, seed: int) -> np.ndarray:
    """n labels of num_classes classes with seeded, unequal class frequencies."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(num_classes, 0.7))
    return rng.choice(num_classes, size=n, p=weights)


def skewed_cache(path: Path) -> Path:
    """A 6-class synthetic cache of 300 training and 90 test examples, skewed classes."""
    synthetic_cache(path, skewed_labels(300, 6, 0), skewed_labels(90, 6, 1), num_classes=6)
    return path


def synthetic_cache(path: Path, train_labels: np.ndarray, test_labels: np.ndarray,
                    num_classes: int, dataset: str = "mnist", shape=(4, 4, 1),
                    seed: int = 0) -> str:
    """A cache file written through the real writer from random images; returns its hash."""
    rng = np.random.default_rng(seed)

    def split(labels: np.ndarray) -> SplitSource:
        images = rng.integers(0, 256, size=(len(labels), *shape), dtype=np.uint8)
        # original indices deliberately not 0..n-1, so provenance mix-ups show
        index = np.arange(len(labels), dtype=np.int64) * 3 + 7
        return SplitSource(len(labels), shape, index, [(images, np.asarray(labels))])

    data = Converted(split(train_labels), split(test_labels),
                     [f"c{k}" for k in range(num_classes)])
    return write_cache(path, dataset, data, {"sources": {}})


@dataclass
class Planted:
    """A correctness store's arrays with planted memorization and influence: what the trials
    curve and the forecast are tested on."""

    mask: np.ndarray
    train_correct: np.ndarray
    test_correct: np.ndarray
    train_labels: np.ndarray
    test_labels: np.ndarray
    mem: np.ndarray   # (n,) the planted mem of each training example
    infl: np.ndarray  # (n, n_test) the planted infl of each pair


def planted_trials(t: int, n: int = 120, n_test: int = 60, classes: int = 3,
                   memorized: int = 30, pairs: int = 40, infl: tuple[float, float] = (0.1, 0.6),
                   seed: int = 0, ratio: float = 0.7) -> Planted:
    """t trials on 70% subsets of n training examples. The first ``memorized`` training
    examples are right when in the subset and with probability 0.2 when out (mem 0.8), the
    others always (mem 0). ``pairs`` same-class (memorized example, test example) pairs get
    an influence drawn uniformly from ``infl``: the test example is right with probability
    0.4 + infl when the training example is in, 0.4 when out; every other test example with
    probability 0.7 whatever the subset."""
    rng = np.random.default_rng(seed)
    train_labels = np.arange(n) % classes
    test_labels = np.arange(n_test) % classes
    m = round(ratio * n)
    mask = np.zeros((t, n), bool)
    for k in range(t):
        mask[k, rng.choice(n, m, replace=False)] = True
    mem = np.where(np.arange(n) < memorized, 0.8, 0.0)
    train_correct = mask | (rng.random((t, n)) < 1 - mem)
    planted = np.zeros((n, n_test))
    candidates = [(i, j) for i in range(memorized) for j in range(n_test)
                  if train_labels[i] == test_labels[j]]
    chosen = rng.choice(len(candidates), pairs, replace=False)
    base = np.full(n_test, 0.7)
    for c in chosen:
        i, j = candidates[c]
        if planted[:, j].any():
            continue  # one influencer per test example
        planted[i, j] = rng.uniform(*infl)
        base[j] = 0.4
    p = np.tile(base, (t, 1))
    for i, j in zip(*np.nonzero(planted), strict=True):
        p[:, j] += planted[i, j] * mask[:, i]
    test_correct = rng.random((t, n_test)) < p
    return Planted(mask, train_correct, test_correct, train_labels, test_labels, mem, planted)
