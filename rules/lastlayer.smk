# Last-layer-only estimates (Section 3, "Does the last layer suffice for memorization?"): the
# study's model trained once on all n examples; per trial a fresh linear classifier on its
# penultimate representation, on the study's own subsets I_k; the same estimators on top.


localrules:
    select_lastlayer_pairs,
    tabulate_lastlayer,
    plot_figC3,


rule extract_representations:
    input:
        data="results/{study}/data.h5",
    output:
        "results/{study}/lastlayer/representations.h5",
    log:
        "logs/{study}/lastlayer/extract_representations.log",
    benchmark:
        "results/{study}/benchmarks/lastlayer_extract.tsv"
    threads: lookup(dpath="studies/{study}/train/threads", within=config)
    resources:
        gpu=RESOURCES.training_gpus,
        mem_mb=RESOURCES.training_mem_mb,
        runtime=RESOURCES.full_model_runtime,
    params:
        study=get_training_params,
    script:
        "../scripts/extract_representations.py"


rule train_lastlayer_trials:
    input:
        data="results/{study}/data.h5",
        representations="results/{study}/lastlayer/representations.h5",
    output:
        "results/{study}/lastlayer/correctness.h5",
    log:
        "logs/{study}/lastlayer/train_lastlayer_trials.log",
    benchmark:
        "results/{study}/benchmarks/lastlayer_train.tsv"
    threads: lookup(dpath="lastlayer/train/threads", within=config)
    resources:
        mem_mb=RESOURCES.lastlayer_mem_mb,
        runtime=RESOURCES.lastlayer_runtime,
    params:
        study=get_lastlayer_study,
        linear=get_lastlayer_train,
    script:
        "../scripts/train_lastlayer_trials.py"


# The estimators and the pair selection run unchanged on the linear models' store.
use rule estimate_memorization as estimate_lastlayer_memorization with:
    input:
        "results/{study}/lastlayer/correctness.h5",
    output:
        "results/{study}/lastlayer/estimates.h5",
    log:
        "logs/{study}/lastlayer/estimate_memorization.log",
    benchmark:
        "results/{study}/benchmarks/lastlayer_estimate.tsv"


use rule select_high_influence_pairs as select_lastlayer_pairs with:
    input:
        estimates="results/{study}/lastlayer/estimates.h5",
    output:
        pairs="results/{study}/lastlayer/pairs.csv",
        summary="results/{study}/lastlayer/summary.json",
    log:
        "logs/{study}/lastlayer/select_high_influence_pairs.log",


rule tabulate_lastlayer:
    input:
        representations=expand(
            "results/{study}/lastlayer/representations.h5", study=LASTLAYER_STUDIES
        ),
        full_store=expand("results/{study}/correctness.h5", study=LASTLAYER_STUDIES),
        full_estimates=expand("results/{study}/estimates.h5", study=LASTLAYER_STUDIES),
        linear_store=expand("results/{study}/lastlayer/correctness.h5", study=LASTLAYER_STUDIES),
        linear_estimates=expand("results/{study}/lastlayer/estimates.h5", study=LASTLAYER_STUDIES),
        linear_pairs=expand("results/{study}/lastlayer/pairs.csv", study=LASTLAYER_STUDIES),
    output:
        csv="tables/lastlayer.csv",
        md="tables/lastlayer.md",
    log:
        "logs/tables/lastlayer.log",
    params:
        studies=LASTLAYER_STUDIES,
        thresholds=get_thresholds,
    script:
        "../scripts/tabulate_lastlayer.py"


rule plot_figC3:
    input:
        full_estimates=expand("results/{study}/estimates.h5", study=LASTLAYER_STUDIES),
        linear_estimates=expand("results/{study}/lastlayer/estimates.h5", study=LASTLAYER_STUDIES),
        table="tables/lastlayer.csv",
    output:
        pdf=report("figures/figC3.pdf", caption="../report/figC3.rst", category="Sec. C"),
        png="figures/figC3.png",
    log:
        "logs/figures/figC3.log",
    params:
        studies=LASTLAYER_STUDIES,
    script:
        "../scripts/plot_figC3.py"
