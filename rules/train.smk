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


# A study with `trials: {until: ..., step, max}` trains round after round: round r's verdict
# (results/{study}/rounds/{r}.json) reads the shards of its first t_r trials and says whether
# the selection replicates; the next round's shards are only asked for when it does not.
checkpoint decide_trials_round:
    input:
        data="results/{study}/data.h5",
        shards=get_round_shards,
    output:
        "results/{study}/rounds/{round}.json",
    log:
        "logs/{study}/rounds/{round}.log",
    wildcard_constraints:
        study=study_regex(UNTIL_STUDIES),
        round=r"\d+",
    resources:
        mem_mb=RESOURCES.store_mem_mb,
        runtime=RESOURCES.store_runtime,
    params:
        study=get_store_params,
        thresholds=get_selection_settings,
    script:
        "../scripts/decide_trials_round.py"
