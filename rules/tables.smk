# Section 3's numbers as tables (CSV, Markdown, LaTeX, HTML), with the paper's beside ours, and
# the description of each study that figure titles and report captions quote.


rule describe_study:
    input:
        "results/{study}/correctness.h5",
    output:
        json="results/{study}/about.json",
        rst="results/{study}/about.rst",
    wildcard_constraints:
        study=study_regex(TRAINED_STUDIES),
    log:
        "logs/{study}/describe_study.log",
    params:
        study=get_description_params,
    conda:
        "../environment.yml"
    script:
        "../scripts/describe_study.py"


rule describe_released_study:
    input:
        "results/{study}/estimates.h5",
    output:
        json="results/{study}/about.json",
        rst="results/{study}/about.rst",
    wildcard_constraints:
        study=study_regex(RELEASED_STUDIES),
    log:
        "logs/{study}/describe_released_study.log",
    params:
        study=study_config,
    conda:
        "../environment.yml"
    script:
        "../scripts/describe_released_study.py"


rule tabulate_pairs:
    input:
        summaries=per_study(table_studies("pairs"), "summary.json"),
        about=per_study(table_studies("pairs"), "about.json"),
        about_rst=per_study(table_studies("pairs"), "about.rst"),
    output:
        csv="tables/pairs.csv",
        md="tables/pairs.md",
        tex="tables/pairs.tex",
        html=report(
            "tables/pairs.html", caption="../report/pairs.rst", category="Tables"
        ),
    log:
        "logs/tables/pairs.log",
    params:
        studies=table_studies("pairs"),
    conda:
        "../environment.yml"
    script:
        "../scripts/tabulate_pairs.py"


rule tabulate_marginal_utility:
    input:
        removal=removal_shard_files(
            table_studies("marginal_utility"), ("full", "pairs", "random")
        ),
        pairs=per_study(table_studies("marginal_utility"), "pairs.csv"),
        about=per_study(table_studies("marginal_utility"), "about.json"),
        about_rst=per_study(table_studies("marginal_utility"), "about.rst"),
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
    conda:
        "../environment.yml"
    script:
        "../scripts/tabulate_marginal_utility.py"


rule tabulate_label_noise:
    input:
        estimates=per_study(table_studies("label_noise"), "estimates.h5"),
        data=per_study(table_studies("label_noise"), "data.h5"),
        about=per_study(table_studies("label_noise"), "about.json"),
        about_rst=per_study(table_studies("label_noise"), "about.rst"),
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
    conda:
        "../environment.yml"
    script:
        "../scripts/tabulate_label_noise.py"
