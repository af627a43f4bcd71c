# Cross-architecture comparison (Sec. C): studies with the same data and subsets I_k but
# different architectures, compared on the trials they share.


wildcard_constraints:
    group="|".join(COMPARE_GROUPS),


localrules:
    tabulate_arch_comparison,
    plot_arch_comparison,


rule compare_architectures:
    input:
        stores=get_group_stores,
    output:
        stats="results/compare/{group}/stats.csv",
        curves="results/compare/{group}/curves.csv",
        mem="results/compare/{group}/mem.csv",
    log:
        "logs/compare/{group}.log",
    benchmark:
        "results/compare/{group}/benchmark.tsv"
    resources:
        mem_mb=RESOURCES.group_mem_mb,
        runtime=RESOURCES.group_runtime,
    params:
        studies=lookup(dpath="compare/groups/{group}", within=config),
        thresholds=get_thresholds,
        seed=get_group_seed,
        min_out_trials=get_group_min_out_trials,
    script:
        "../scripts/compare_architectures.py"


rule tabulate_arch_comparison:
    input:
        expand("results/compare/{group}/stats.csv", group=COMPARE_GROUPS),
    output:
        csv="tables/arch_comparison.csv",
        md="tables/arch_comparison.md",
    log:
        "logs/tables/arch_comparison.log",
    script:
        "../scripts/tabulate_arch_comparison.py"


rule plot_arch_comparison:
    input:
        stats=expand("results/compare/{group}/stats.csv", group=COMPARE_GROUPS),
        curves=expand("results/compare/{group}/curves.csv", group=COMPARE_GROUPS),
        mem=expand("results/compare/{group}/mem.csv", group=COMPARE_GROUPS),
    output:
        pdf=report(
            "figures/arch_comparison.pdf",
            caption="../report/arch_comparison.rst",
            category="Sec. C",
        ),
        png="figures/arch_comparison.png",
    log:
        "logs/figures/arch_comparison.log",
    script:
        "../scripts/plot_arch_comparison.py"
