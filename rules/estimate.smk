# Selecting pairs reads the estimates once and writes a CSV: the submitting host does it.
localrules:
    select_high_influence_pairs,


rule estimate_memorization:
    input:
        "results/{study}/correctness.h5",
    output:
        "results/{study}/estimates.h5",
    log:
        "logs/{study}/estimate_memorization.log",
    benchmark:
        "results/{study}/benchmarks/estimate.tsv"
    wildcard_constraints:
        study=study_regex(TRAINED_STUDIES),
    resources:
        mem_mb=RESOURCES.estimate_mem_mb,
        runtime=RESOURCES.store_runtime,
    params:
        influence=lookup(dpath="influence", within=config),
        min_out_trials=lookup(dpath="studies/{study}/min_out_trials", within=config),
    shell:
        "longtail estimate {input:q} {output:q} --influence {params.influence}"
        " --min-out-trials {params.min_out_trials} > {log:q} 2>&1"


rule import_released_estimates:
    input:
        released=lookup(dpath="studies/{study}/released", within=config),
        data="results/{study}/data.h5",
    output:
        "results/{study}/estimates.h5",
    log:
        "logs/{study}/import_released_estimates.log",
    wildcard_constraints:
        study=study_regex(RELEASED_STUDIES),
    resources:
        mem_mb=RESOURCES.released_mem_mb,
        runtime=RESOURCES.short_runtime,
    shell:
        "longtail import-released {input.released:q} {output:q} --data {input.data:q}"
        " > {log:q} 2>&1"


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
        options=get_selection_options,
    shell:
        "longtail pairs {input.estimates:q} {output.pairs:q} --summary {output.summary:q}"
        " --mem {params.thresholds[mem]} --infl {params.thresholds[infl]} {params.options}"
        " > {log:q} 2>&1"


# Split-half Jaccard of the selections over the grids (mean over random half-splits), the
# thresholds (`auto` searches the grid)
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
    resources:
        mem_mb=RESOURCES.store_mem_mb,
        runtime=RESOURCES.store_runtime,
    params:
        thresholds=get_selection_settings,
        seed=lookup(dpath="studies/{study}/seed", within=config),
        min_out_trials=lookup(dpath="studies/{study}/min_out_trials", within=config),
    shell:
        "longtail consistency {input.store:q} {output.consistency:q}"
        " --reliability {output.reliability:q} --estimates {input.estimates:q}"
        " --mem {params.thresholds[mem]} --infl {params.thresholds[infl]}"
        " --target {params.thresholds[target]} --thresholds {params.thresholds[grid][infl]}"
        " --mem-grid {params.thresholds[grid][mem]}"
        " --permutations {params.thresholds[chance_permutations]} --seed {params.seed}"
        " --splits {params.thresholds[splits]} --min-pairs {params.thresholds[min_pairs]}"
        " --min-out-trials {params.min_out_trials} > {log:q} 2>&1"


# The trials curve: the split-half Jaccard of the memorized set and of the pairs at every
# θ_infl of the grid at the prefixes t' = 128, 256, ..., t of the trials (no retraining), and
# `longtail plan`'s forecast of the trials each selection needs (thresholds.forecast).
rule measure_trials_curve:
    input:
        "results/{study}/correctness.h5",
    output:
        curve="results/{study}/trials_curve.csv",
        forecast="results/{study}/forecast.json",
    log:
        "logs/{study}/measure_trials_curve.log",
    wildcard_constraints:
        study=study_regex(TRAINED_STUDIES),
    resources:
        mem_mb=RESOURCES.store_mem_mb,
        runtime=RESOURCES.store_runtime,
    params:
        thresholds=get_thresholds,
        settings=get_selection_settings,
        seed=lookup(dpath="studies/{study}/seed", within=config),
        min_out_trials=lookup(dpath="studies/{study}/min_out_trials", within=config),
    shell:
        "longtail trials-curve {input:q} {output.curve:q} --mem {params.thresholds[mem]}"
        " --thresholds {params.settings[grid][infl]} --seed {params.seed}"
        " --splits {params.settings[splits]} --min-out-trials {params.min_out_trials}"
        " --forecast {output.forecast:q} --forecast-infl {params.settings[forecast]}"
        " --target {params.settings[target]} --min-pairs {params.settings[min_pairs]}"
        " > {log:q} 2>&1"
