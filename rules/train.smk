rule train_trial_shard:
    input:
        data="results/{study}/data.h5",
    output:
        "results/{study}/trials/{start}-{stop}.h5",
    log:
        "logs/{study}/train/{start}-{stop}.log",
    benchmark:
        "results/{study}/benchmarks/train_{start}-{stop}.tsv"
    params:
        study=get_training_params,
    threads: get_training_threads
    conda:
        "../environment.yml"
    script:
        "../scripts/train_trial_shard.py"
