rule estimate_memorization:
    input:
        "results/{study}/correctness.h5",
    output:
        "results/{study}/estimates.h5",
    log:
        "logs/{study}/estimate_memorization.log",
    benchmark:
        "results/{study}/benchmarks/estimate.tsv"
    params:
        influence=config["influence"],
        min_out_trials=get_min_out_trials,
    conda:
        "../environment.yml"
    script:
        "../scripts/estimate_memorization.py"


rule select_high_influence_pairs:
    input:
        "results/{study}/estimates.h5",
    output:
        pairs="results/{study}/pairs.csv",
        summary="results/{study}/summary.json",
    log:
        "logs/{study}/select_high_influence_pairs.log",
    params:
        thresholds=get_thresholds,
    conda:
        "../environment.yml"
    script:
        "../scripts/select_high_influence_pairs.py"


rule measure_selection_consistency:
    input:
        "results/{study}/correctness.h5",
    output:
        "results/{study}/consistency.csv",
    log:
        "logs/{study}/measure_selection_consistency.log",
    params:
        thresholds=get_thresholds,
        seed=get_study_seed,
        min_out_trials=get_min_out_trials,
    conda:
        "../environment.yml"
    script:
        "../scripts/measure_selection_consistency.py"
