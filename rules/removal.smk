# Marginal utility of memorized examples (Section 3): models retrained on the training set
# without the examples with mem >= threshold (Fig. 2), without as many random examples, on the
# full set, without the pairs' training examples, and without a range of numbers of random
# examples (tables/marginal_utility: the random count that costs as much as the pairs'). One
# job trains a range of repeats of every kind of one part, batched like the trials.


rule train_removal_shard:
    input:
        unpack(get_removal_input),
    output:
        "results/{study}/removal/{part}/{start}-{stop}.h5",
    log:
        "logs/{study}/removal/{part}/{start}-{stop}.log",
    benchmark:
        "results/{study}/benchmarks/removal_{part}_{start}-{stop}.tsv"
    wildcard_constraints:
        part=r"full|pairs|(mem|random)-\d+(\.\d+)?",
    threads: lookup(dpath="studies/{study}/train/threads", within=config)
    resources:
        gpu=RESOURCES.training_gpus,
        mem_mb=RESOURCES.training_mem_mb,
        runtime=RESOURCES.removal_runtime,
    params:
        study=get_training_params,
    script:
        "../scripts/train_removal_shard.py"
