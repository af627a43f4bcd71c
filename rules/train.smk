rule train_trial_shard:
    input:
        data="results/{study}/data.h5",
    output:
        "results/{study}/trials/{start}-{stop}.h5",
    log:
        "logs/{study}/train/{start}-{stop}.log",
    benchmark:
        "results/{study}/benchmarks/train_{start}-{stop}.tsv"
    threads: lookup(dpath="studies/{study}/train/threads", within=config)
    resources:
        gpu=RESOURCES.training_gpus,
        mem_mb=RESOURCES.training_mem_mb,
        runtime=RESOURCES.trial_runtime,
    params:
        study=get_training_params,
    script:
        "../scripts/train_trial_shard.py"
