# A static website per study to browse every example with its estimates (results/{study}/
# explorer/index.html; `snakemake --cores all explorer` builds one for every configured study),
# and its screenshot for the README (`docs`). Both are light and run on the submitting host.


localrules:
    explorer,
    build_explorer,
    screenshot_explorer,


rule explorer:
    input:
        get_explorer_outputs(),


rule build_explorer:
    input:
        unpack(get_explorer_inputs),
    output:
        "results/{study}/explorer/index.html",
    log:
        "logs/{study}/build_explorer.log",
    params:
        options=get_explorer_options,
    shell:
        "longtail explorer {input.estimates:q} {output:q} --study {wildcards.study:q}"
        " --data {input.data:q} --pairs {input.pairs:q} --summary {input.summary:q}"
        " --about {input.about:q} {params.options} > {log:q} 2>&1"


rule screenshot_explorer:
    input:
        get_docs_explorer,
    output:
        "docs/figures/explorer.png",
    log:
        "logs/docs/explorer.log",
    params:
        view=get_docs_explorer_view,
    script:
        "../scripts/screenshot_explorer.py"
