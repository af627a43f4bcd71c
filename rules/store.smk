rule aggregate_correctness:
    input:
        data="results/{study}/data.h5",
        shards=get_trial_shards,
    output:
        "results/{study}/correctness.h5",
    log:
        "logs/{study}/aggregate_correctness.log",
    params:
        study=get_store_params,
    conda:
        "../environment.yml"
    script:
        "../scripts/aggregate_correctness.py"
