rule aggregate_correctness:
    input:
        data="results/{study}/data.h5",
        shards=get_trial_shards,
        until=get_until_verdict,
    output:
        "results/{study}/correctness.h5",
    log:
        "logs/{study}/aggregate_correctness.log",
    resources:
        mem_mb=RESOURCES.store_mem_mb,
        runtime=RESOURCES.store_runtime,
    params:
        study=get_store_params,
    script:
        "../scripts/aggregate_correctness.py"
