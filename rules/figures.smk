# The paper's figures from the estimates, pairs and removal runs: figures/<name>.pdf with a PNG
# beside it. Each rule reads only its own plotting options (config `plots.<name>`), so changing
# one redraws only that figure. Drawing is light: every rule here runs on the submitting host.


localrules:
    plot_fig1,
    plot_fig2,
    plot_fig3,
    plot_figC1,
    plot_consistency,
    plot_trials_curve,
    plot_mem_hist,
    plot_label_noise,
    copy_figure_to_docs,
    copy_trials_curve_to_docs,
    docs,
    plot_galleries,


rule plot_fig1:
    input:
        estimates=expand("results/{study}/estimates.h5", study=figure_studies("fig1")),
        data=expand("results/{study}/data.h5", study=figure_studies("fig1")),
        about=expand("results/{study}/about.json", study=figure_studies("fig1")),
        about_rst=expand("results/{study}/about.rst", study=figure_studies("fig1")),
    output:
        pdf="figures/fig1.pdf",
        png=report("figures/fig1.png", caption="../report/fig1.rst", category="Figures"),
    log:
        "logs/figures/fig1.log",
    params:
        studies=figure_studies("fig1"),
        options=get_plot_options("fig1"),
    script:
        "../scripts/plot_fig1.py"


rule plot_fig2:
    input:
        removal=removal_shard_files(figure_studies("fig2"), ("full", "mem")),
        about=expand("results/{study}/about.json", study=figure_studies("fig2")),
        about_rst=expand("results/{study}/about.rst", study=figure_studies("fig2")),
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
    script:
        "../scripts/plot_fig2.py"


rule plot_fig3:
    input:
        estimates=expand("results/{study}/estimates.h5", study=figure_studies("fig3")),
        pairs=expand("results/{study}/pairs.csv", study=figure_studies("fig3")),
        summaries=expand("results/{study}/summary.json", study=figure_studies("fig3")),
        selection_rst=expand("results/{study}/selection.rst", study=figure_studies("fig3")),
        data=expand("results/{study}/data.h5", study=figure_studies("fig3")),
        about=expand("results/{study}/about.json", study=figure_studies("fig3")),
        about_rst=expand("results/{study}/about.rst", study=figure_studies("fig3")),
    output:
        pdf="figures/fig3.pdf",
        png=report("figures/fig3.png", caption="../report/fig3.rst", category="Figures"),
    log:
        "logs/figures/fig3.log",
    params:
        studies=figure_studies("fig3"),
        options=get_plot_options("fig3"),
    script:
        "../scripts/plot_fig3.py"


rule plot_figC1:
    input:
        pairs=expand("results/{study}/pairs.csv", study=figure_studies("figC1")),
        summaries=expand("results/{study}/summary.json", study=figure_studies("figC1")),
        selection_rst=expand("results/{study}/selection.rst", study=figure_studies("figC1")),
        about=expand("results/{study}/about.json", study=figure_studies("figC1")),
        about_rst=expand("results/{study}/about.rst", study=figure_studies("figC1")),
    output:
        pdf="figures/figC1.pdf",
        png=report("figures/figC1.png", caption="../report/figC1.rst", category="Figures"),
    log:
        "logs/figures/figC1.log",
    params:
        studies=figure_studies("figC1"),
        options=get_plot_options("figC1"),
    script:
        "../scripts/plot_figC1.py"


rule plot_consistency:
    input:
        reliability=expand("results/{study}/reliability.json", study=figure_studies("consistency")),
        selection_rst=expand("results/{study}/selection.rst", study=figure_studies("consistency")),
        about=expand("results/{study}/about.json", study=figure_studies("consistency")),
        about_rst=expand("results/{study}/about.rst", study=figure_studies("consistency")),
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
    script:
        "../scripts/plot_consistency.py"


# The trials curve of every trained study: split-half Jaccard against t, a line per θ.
rule plot_trials_curve:
    input:
        curve="results/{study}/trials_curve.csv",
        forecast="results/{study}/forecast.json",
        about="results/{study}/about.json",
    output:
        pdf="figures/trials_curve_{study}.pdf",
        png=report(
            "figures/trials_curve_{study}.png",
            caption="../report/trials_curve.rst",
            category="Figures",
        ),
    log:
        "logs/figures/trials_curve_{study}.log",
    params:
        target=lookup(dpath="thresholds/target", within=config),
    script:
        "../scripts/plot_trials_curve.py"


rule plot_mem_hist:
    input:
        estimates=expand("results/{study}/estimates.h5", study=figure_studies("mem_hist")),
        about_rst=expand("results/{study}/about.rst", study=figure_studies("mem_hist")),
    output:
        pdf="figures/mem_hist.pdf",
        png=report("figures/mem_hist.png", caption="../report/mem_hist.rst", category="Figures"),
    log:
        "logs/figures/mem_hist.log",
    params:
        studies=figure_studies("mem_hist"),
        options=get_plot_options("mem_hist"),
        mem_threshold=get_thresholds(None)["mem"],
    script:
        "../scripts/plot_mem_hist.py"


rule plot_label_noise:
    input:
        estimates=expand("results/{study}/estimates.h5", study=figure_studies("label_noise")),
        data=expand("results/{study}/data.h5", study=figure_studies("label_noise")),
        about=expand("results/{study}/about.json", study=figure_studies("label_noise")),
        about_rst=expand("results/{study}/about.rst", study=figure_studies("label_noise")),
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
    script:
        "../scripts/copy_figure_to_docs.py"


# The README's trials curve: that of the first configured study.
rule copy_trials_curve_to_docs:
    input:
        get_docs_trials_curve,
    output:
        "docs/figures/trials_curve.png",
    log:
        "logs/docs/trials_curve.log",
    script:
        "../scripts/copy_figure_to_docs.py"


rule docs:
    input:
        get_docs_figures(),
        "docs/figures/trials_curve.png",
        "docs/figures/explorer.png",


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
    script:
        "../scripts/plot_galleries.py"
