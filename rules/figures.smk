# The paper's figures from the estimates, pairs and removal runs: figures/<name>.pdf with a PNG
# beside it. Each rule reads only its own plotting options (config `plots.<name>`), so changing
# one redraws only that figure.


rule plot_fig1:
    input:
        estimates=per_study(figure_studies("fig1"), "estimates.h5"),
        data=per_study(figure_studies("fig1"), "data.h5"),
        about=per_study(figure_studies("fig1"), "about.json"),
        about_rst=per_study(figure_studies("fig1"), "about.rst"),
    output:
        pdf="figures/fig1.pdf",
        png=report("figures/fig1.png", caption="../report/fig1.rst", category="Figures"),
    log:
        "logs/figures/fig1.log",
    params:
        studies=figure_studies("fig1"),
        options=get_plot_options("fig1"),
    conda:
        "../environment.yml"
    script:
        "../scripts/plot_fig1.py"


rule plot_fig2:
    input:
        removal=removal_shard_files(figure_studies("fig2"), ("full", "mem")),
        about=per_study(figure_studies("fig2"), "about.json"),
        about_rst=per_study(figure_studies("fig2"), "about.rst"),
    output:
        pdf="figures/fig2.pdf",
        png=report("figures/fig2.png", caption="../report/fig2.rst", category="Figures"),
        csv="figures/fig2.csv",
        rst="figures/fig2.rst",
    log:
        "logs/figures/fig2.log",
    params:
        studies=figure_studies("fig2"),
        options=get_plot_options("fig2"),
    conda:
        "../environment.yml"
    script:
        "../scripts/plot_fig2.py"


rule plot_fig3:
    input:
        estimates=per_study(figure_studies("fig3"), "estimates.h5"),
        pairs=per_study(figure_studies("fig3"), "pairs.csv"),
        summaries=per_study(figure_studies("fig3"), "summary.json"),
        selection_rst=per_study(figure_studies("fig3"), "selection.rst"),
        data=per_study(figure_studies("fig3"), "data.h5"),
        about=per_study(figure_studies("fig3"), "about.json"),
        about_rst=per_study(figure_studies("fig3"), "about.rst"),
    output:
        pdf="figures/fig3.pdf",
        png=report("figures/fig3.png", caption="../report/fig3.rst", category="Figures"),
    log:
        "logs/figures/fig3.log",
    params:
        studies=figure_studies("fig3"),
        options=get_plot_options("fig3"),
    conda:
        "../environment.yml"
    script:
        "../scripts/plot_fig3.py"


rule plot_figC1:
    input:
        pairs=per_study(figure_studies("figC1"), "pairs.csv"),
        summaries=per_study(figure_studies("figC1"), "summary.json"),
        selection_rst=per_study(figure_studies("figC1"), "selection.rst"),
        about=per_study(figure_studies("figC1"), "about.json"),
        about_rst=per_study(figure_studies("figC1"), "about.rst"),
    output:
        pdf="figures/figC1.pdf",
        png=report("figures/figC1.png", caption="../report/figC1.rst", category="Figures"),
    log:
        "logs/figures/figC1.log",
    params:
        studies=figure_studies("figC1"),
        options=get_plot_options("figC1"),
    conda:
        "../environment.yml"
    script:
        "../scripts/plot_figC1.py"


rule plot_consistency:
    input:
        reliability=per_study(figure_studies("consistency"), "reliability.json"),
        about=per_study(figure_studies("consistency"), "about.json"),
        about_rst=per_study(figure_studies("consistency"), "about.rst"),
    output:
        pdf="figures/consistency.pdf",
        png=report(
            "figures/consistency.png",
            caption="../report/consistency.rst",
            category="Figures",
        ),
    log:
        "logs/figures/consistency.log",
    params:
        studies=figure_studies("consistency"),
    conda:
        "../environment.yml"
    script:
        "../scripts/plot_consistency.py"


rule plot_mem_hist:
    input:
        estimates=per_study(figure_studies("mem_hist"), "estimates.h5"),
        about_rst=per_study(figure_studies("mem_hist"), "about.rst"),
    output:
        pdf="figures/mem_hist.pdf",
        png=report(
            "figures/mem_hist.png", caption="../report/mem_hist.rst", category="Figures"
        ),
    log:
        "logs/figures/mem_hist.log",
    params:
        studies=figure_studies("mem_hist"),
        options=get_plot_options("mem_hist"),
        mem_threshold=get_thresholds(None)["mem"],
    conda:
        "../environment.yml"
    script:
        "../scripts/plot_mem_hist.py"


rule plot_label_noise:
    input:
        estimates=per_study(figure_studies("label_noise"), "estimates.h5"),
        data=per_study(figure_studies("label_noise"), "data.h5"),
        about=per_study(figure_studies("label_noise"), "about.json"),
        about_rst=per_study(figure_studies("label_noise"), "about.rst"),
    output:
        pdf="figures/label_noise.pdf",
        png=report(
            "figures/label_noise.png",
            caption="../report/label_noise.rst",
            category="Figures",
        ),
    log:
        "logs/figures/label_noise.log",
    params:
        studies=figure_studies("label_noise"),
        options=get_plot_options("label_noise"),
    conda:
        "../environment.yml"
    script:
        "../scripts/plot_label_noise.py"


# `snakemake --cores all docs` refreshes the README's PNGs (docs/figures/) from the figures of
# the configured studies; figures/ itself holds workflow outputs and is not committed.
rule copy_figure_to_docs:
    input:
        "figures/{figure}.png",
    output:
        "docs/figures/{figure}.png",
    log:
        "logs/docs/{figure}.log",
    wildcard_constraints:
        figure="fig1|fig2|fig3|figC1|mem_hist|label_noise|consistency",
    conda:
        "../environment.yml"
    script:
        "../scripts/copy_figure_to_docs.py"


rule docs:
    input:
        get_docs_figures(),


rule plot_galleries:
    input:
        estimates="results/{study}/estimates.h5",
        pairs="results/{study}/pairs.csv",
        data="results/{study}/data.h5",
    output:
        classes=report(
            directory("results/{study}/gallery/classes"),
            patterns=["{name}.png"],
            caption="../report/gallery_classes.rst",
            category="Galleries",
            subcategory="{study}",
        ),
        pairs=report(
            "results/{study}/gallery/pairs.png",
            caption="../report/gallery_pairs.rst",
            category="Galleries",
            subcategory="{study}",
        ),
    log:
        "logs/{study}/plot_galleries.log",
    params:
        options=get_gallery_options,
    conda:
        "../environment.yml"
    script:
        "../scripts/plot_galleries.py"
