rule build_dataset_cache:
    input:
        get_dataset_source,
    output:
        f"{DATA_DIR}/{{dataset}}.h5",
    log:
        f"logs/data/{{dataset}}.log",
    resources:
        mem_mb=RESOURCES.cache_mem_mb,
        runtime=RESOURCES.cache_runtime,
    params:
        download_dir=get_download_dir,
        data=get_data_sources,
        spec=get_dataset_spec,
    script:
        "../scripts/build_dataset_cache.py"


rule make_study_data:
    input:
        cache=get_dataset_cache,
    output:
        "results/{study}/data.h5",
    log:
        "logs/{study}/make_study_data.log",
    resources:
        mem_mb=RESOURCES.study_data_mem_mb,
        runtime=RESOURCES.short_runtime,
    params:
        data=get_data_params,
    script:
        "../scripts/make_study_data.py"
