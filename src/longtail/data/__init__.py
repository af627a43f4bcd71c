"""The data layer: verified original datasets -> one HDF5 cache each -> per-study subsamples.

``longtail.data.build.build_cache`` finds each dataset's original files (offline folders first,
then configured mirrors, then torchvision's URLs), verifies them with torchvision's checksums,
converts them with torchvision's dataset classes and writes one content-hashed cache file; it
is the only part that needs torch/torchvision. ``read_cache`` refuses a cache whose content no
longer matches its hash. ``make_study_data`` draws the stratified, seeded subsample and label
noise one study uses (:mod:`.noise_models`: symmetric, matrix or confusable flips);
``load_study_data`` reads it back. The built-in datasets and their facts are :mod:`.datasets`.
Importing this package needs no torch.

May import: :mod:`longtail.errors`, :mod:`longtail.store`, :mod:`longtail.config`
(``tests/test_layers.py``).
"""

from .cache import DatasetCache, read_cache
from .datasets import DATASETS, SPLIT_SIZES
from .errors import DataError
from .study_data import StudyData, load_study_data, make_study_data

__all__ = ["DATASETS", "SPLIT_SIZES", "DataError", "DatasetCache", "StudyData",
           "load_study_data", "make_study_data", "read_cache"]
