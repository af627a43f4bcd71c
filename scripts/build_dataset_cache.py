"""Snakemake adapter: original dataset files -> one HDF5 cache (longtail.data.build.build_cache),
or a user's own image folder / .npz of arrays -> one cache (longtail.data.custom)."""

from pathlib import Path

from longtail.data.build import build_cache
from longtail.data.custom import build_custom_cache
from longtail.workflow.logs import log_to

with log_to(snakemake.log[0]):
    spec = snakemake.params.spec
    if spec:
        build_custom_cache(snakemake.wildcards.dataset, spec, Path(snakemake.output[0]))
    else:
        data = snakemake.params.data
        build_cache(
            snakemake.wildcards.dataset,
            Path(snakemake.output[0]),
            download_dir=Path(snakemake.params.download_dir),
            offline_dirs=[Path(d) for d in data["offline_dirs"]],
            mirrors=data["mirrors"].get(snakemake.wildcards.dataset, []),
            imagenet_root=Path(data["imagenet_root"]) if data["imagenet_root"] else None,
            image_size=data["image_size"],
        )
