# Section 3's numbers as tables (CSV, Markdown, LaTeX, HTML), with the paper's beside ours, and
# the description of each study that figure titles and report captions quote. All of them are
# light and run on the submitting host.


localrules:
    describe_study,
    describe_released_study,
    tabulate_pairs,
    tabulate_marginal_utility,
    tabulate_label_noise,


rule describe_study:
    input:
        "results/{study}/correctness.h5",
    output:
        json="results/{study}/about.json",
        rst="results/{study}/about.rst",
    log:
        "logs/{study}/describe_study.log",
    wildcard_constraints:
        study=study_regex(TRAINED_STUDIES),
    params:
        study=get_description_params,
    script:
        "../scripts/describe_study.py"


rule describe_released_study:
    input:
        "results/{study}/estimates.h5",
    output:
        json="results/{study}/about.json",
        rst="results/{study}/about.rst",
    log:
        "logs/{study}/describe_released_study.log",
    wildcard_constraints:
        study=study_regex(RELEASED_STUDIES),
    params:
        study=study_config,
    script:
        "../scripts/describe_released_study.py"


rule tabulate_pairs:
    input:
        summaries=expand("results/{study}/summary.json", study=table_studies("pairs")),
        about=expand("results/{study}/about.json", study=table_studies("pairs")),
        about_rst=expand("results/{study}/about.rst", study=table_studies("pairs")),
    output:
        csv="tables/pairs.csv",
        md="tables/pairs.md",
        tex="tables/pairs.tex",
        html=report("tables/pairs.html", caption="../report/pairs.rst", category="Tables"),
    log:
        "logs/tables/pairs.log",
    params:
        studies=table_studies("pairs"),
    script:
        "../scripts/tabulate_pairs.py"


rule tabulate_marginal_utility:
    input:
        removal=removal_shard_files(table_studies("marginal_utility"), ("full", "pairs", "random")),
        pairs=expand("results/{study}/pairs.csv", study=table_studies("marginal_utility")),
        summary=expand("results/{study}/summary.json", study=table_studies("marginal_utility")),
        about=expand("results/{study}/about.json", study=table_studies("marginal_utility")),
        about_rst=expand("results/{study}/about.rst", study=table_studies("marginal_utility")),
    output:
        csv="tables/marginal_utility.csv",
        md="tables/marginal_utility.md",
        tex="tables/marginal_utility.tex",
        html=report(
            "tables/marginal_utility.html",
            caption="../report/marginal_utility.rst",
            category="Tables",
        ),
        rst="tables/marginal_utility.rst",
    log:
        "logs/tables/marginal_utility.log",
    params:
        studies=table_studies("marginal_utility"),
    script:
        "../scripts/tabulate_marginal_utility.py"


rule tabulate_label_noise:
    input:
        estimates=expand("results/{study}/estimates.h5", study=table_studies("label_noise")),
        data=expand("results/{study}/data.h5", study=table_studies("label_noise")),
        about=expand("results/{study}/about.json", study=table_studies("label_noise")),
        about_rst=expand("results/{study}/about.rst", study=table_studies("label_noise")),
    output:
        csv="tables/label_noise.csv",
        md="tables/label_noise.md",
        tex="tables/label_noise.tex",
        html=report(
            "tables/label_noise.html",
            caption="../report/label_noise_table.rst",
            category="Tables",
        ),
    log:
        "logs/tables/label_noise.log",
    params:
        studies=table_studies("label_noise"),
    script:
        "../scripts/tabulate_label_noise.py"
