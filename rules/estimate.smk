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
        estimates="results/{study}/estimates.h5",
        reliability="results/{study}/reliability.json",
    output:
        pairs="results/{study}/pairs.csv",
        summary="results/{study}/summary.json",
        rst="results/{study}/selection.rst",
    log:
        "logs/{study}/select_high_influence_pairs.log",
    params:
        # only for the last-layer variant, which has no reliability report (lastlayer.smk)
        thresholds=get_thresholds,
    conda:
        "../environment.yml"
    script:
        "../scripts/select_high_influence_pairs.py"


# Split-half Jaccard of the selections over the grids, the thresholds (`auto` searches the grid)
# and the pairs expected by chance; the selection above reads its thresholds from here.
rule measure_selection_consistency:
    input:
        store="results/{study}/correctness.h5",
        estimates="results/{study}/estimates.h5",
    output:
        consistency="results/{study}/consistency.csv",
        reliability="results/{study}/reliability.json",
    log:
        "logs/{study}/measure_selection_consistency.log",
    params:
        thresholds=get_selection_settings,
        seed=get_study_seed,
        min_out_trials=get_min_out_trials,
    conda:
        "../environment.yml"
    script:
        "../scripts/measure_selection_consistency.py"
