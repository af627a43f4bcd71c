# Label-error detectors side by side (config `detectors`): K-fold cross-validations trained as
# ordinary jobs, then per noise study one table and one figure (mem~, 1 - p_out, cleanlab on
# the held-out vote shares and on K-fold probabilities) and the table of cost against quality.

from longtail.detectors import cleanlab_available
from longtail.noise_models import noise_rate


localrules:
    compare_detectors,
    tabulate_detector_cost,


wildcard_constraints:
    folds=r"\d+",
    repeat=r"\d+",


def detector_studies():
    """The studies config `detectors.studies` lists; unset: every trained study with label
    noise, when cleanlab is installed (none otherwise)."""
    listed = lookup(dpath="detectors/studies", within=config, default=None)
    if listed is not None:
        return listed
    if not cleanlab_available():
        return []
    return [s for s in TRAINED_STUDIES if noise_rate(config["studies"][s]["label_noise"]) > 0]


def detector_setting(key):
    return lookup(dpath=f"detectors/{key}", within=config)


def kfold_files(study):
    """One split per K of `detectors.folds`, and `repeats` splits of `main_folds`."""
    main = detector_setting("main_folds")
    splits = [(k, 0) for k in detector_setting("folds")]
    splits += [(main, r) for r in range(detector_setting("repeats")) if (main, r) not in splits]
    return [f"results/{study}/kfold/{k}-{r}.h5" for k, r in splits]


def get_main_kfold(wildcards):
    return f"results/{wildcards.study}/kfold/{detector_setting('main_folds')}-0.h5"


def get_all_kfold_files(wildcards):
    return [path for study in detector_studies() for path in kfold_files(study)]


def get_kfold_groups(wildcards):
    return [kfold_files(study) for study in detector_studies()]


def get_kfold_runtime(wildcards, attempt):
    """K models, each on n (K - 1) / K <= n examples."""
    return int(wildcards.folds) * RESOURCES.full_model_runtime(wildcards, attempt)


def get_detector_outputs():
    """Each detector study's table and figure, and the cost table (when any study)."""
    studies = detector_studies()
    if not studies:
        return []
    return (
        expand("tables/detectors_{study}.{ext}", study=studies, ext=("csv", "md"))
        + expand("figures/detectors_{study}.png", study=studies)
        + ["tables/detector_cost.md"]
    )


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
        runtime=get_kfold_runtime,
    params:
        study=get_training_params,
    script:
        "../scripts/train_kfold.py"


rule compare_detectors:
    input:
        store="results/{study}/correctness.h5",
        kfold=get_main_kfold,
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
        stores=expand("results/{study}/correctness.h5", study=detector_studies()),
        kfold=get_all_kfold_files,
    output:
        csv="tables/detector_cost.csv",
        md="tables/detector_cost.md",
    log:
        "logs/tables/detector_cost.log",
    params:
        studies=detector_studies(),
        kfold=get_kfold_groups,
        trials=detector_setting("trials"),
        main_folds=detector_setting("main_folds"),
    script:
        "../scripts/tabulate_detector_cost.py"
