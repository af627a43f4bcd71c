"""The data layer: verified original datasets -> one HDF5 cache each -> per-study subsamples.

``build_cache`` finds each dataset's original files (offline folders first, then configured
mirrors, then torchvision's URLs), verifies them with torchvision's checksums, converts them
with torchvision's dataset classes and writes one content-hashed cache file. ``read_cache``
refuses a cache whose content no longer matches its hash. ``make_study_data`` draws the
stratified, seeded subsample and label noise one study uses; ``load_study_data`` reads it back.
"""

from .cache import DatasetCache, build_cache, read_cache
from .catalog import DATASETS, SPLIT_SIZES
from .errors import DataError
from .study import StudyData, load_study_data, make_study_data

__all__ = ["DATASETS", "SPLIT_SIZES", "DataError", "DatasetCache", "StudyData", "build_cache",
           "load_study_data", "make_study_data", "read_cache"]
