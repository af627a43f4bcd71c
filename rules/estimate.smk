rule estimate_memorization:
    input:
        "results/{study}/correctness.h5",
    output:
        "results/{study}/estimates.h5",
    wildcard_constraints:
        study=study_regex(TRAINED_STUDIES),
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


rule import_released_estimates:
    input:
        released=get_released_file,
        data="results/{study}/data.h5",
    output:
        "results/{study}/estimates.h5",
    wildcard_constraints:
        study=study_regex(RELEASED_STUDIES),
    log:
        "logs/{study}/import_released_estimates.log",
    conda:
        "../environment.yml"
    script:
        "../scripts/import_released_estimates.py"


rule select_high_influence_pairs:
    input:
        unpack(get_selection_inputs),
    output:
        pairs="results/{study}/pairs.csv",
        summary="results/{study}/summary.json",
        rst="results/{study}/selection.rst",
    log:
        "logs/{study}/select_high_influence_pairs.log",
    params:
        # for the last-layer variant and released estimates, which have no trials to split
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
