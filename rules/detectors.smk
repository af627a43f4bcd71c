# Label-error detectors side by side (config `detectors`): K-fold cross-validations trained as
# ordinary jobs, then per noise study one table and one figure (mem~, 1 - p_out, cleanlab on
# the held-out vote shares and on K-fold probabilities) and the table of cost against quality.
# Which studies and splits: longtail.workflow.detector_wiring (DETECTORS, rules/common.smk).


localrules:
    compare_detectors,
    tabulate_detector_cost,


wildcard_constraints:
    folds=r"\d+",
    repeat=r"\d+",


rule train_kfold:
    input:
        data="results/{study}/data.h5",
    output:
        "results/{study}/kfold/{folds}-{repeat}.h5",
    log:
        "logs/{study}/kfold/{folds}-{repeat}.log",
    benchmark:
        "results/{study}/benchmarks/kfold_{folds}-{repeat}.tsv"
    threads: lookup(dpath="studies/{study}/train/threads", within=config)
    resources:
        gpu=RESOURCES.training_gpus,
        mem_mb=RESOURCES.training_mem_mb,
        runtime=KFOLD_RUNTIME,
    params:
        study=get_training_params,
    script:
        "../scripts/train_kfold.py"


rule compare_detectors:
    input:
        store="results/{study}/correctness.h5",
        kfold=DETECTORS.main_kfold,
    output:
        csv="tables/detectors_{study}.csv",
        md="tables/detectors_{study}.md",
        pdf="figures/detectors_{study}.pdf",
        png=report(
            "figures/detectors_{study}.png",
            caption="../report/detectors.rst",
            category="Figures",
        ),
    log:
        "logs/tables/detectors_{study}.log",
    script:
        "../scripts/compare_detectors.py"


rule tabulate_detector_cost:
    input:
        stores=DETECTORS.stores(),
        kfold=DETECTORS.all_kfold_files,
    output:
        csv="tables/detector_cost.csv",
        md="tables/detector_cost.md",
    log:
        "logs/tables/detector_cost.log",
    params:
        studies=DETECTORS.studies,
        kfold=DETECTORS.kfold_groups,
        trials=DETECTORS.trials,
        main_folds=DETECTORS.main_folds,
    script:
        "../scripts/tabulate_detector_cost.py"
