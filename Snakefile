# Memorization and influence of training examples (Feldman & Zhang, NeurIPS 2020).
# The Snakefile only wires stages together; all logic lives in the `longtail` package.

from snakemake.utils import min_version

min_version("9.19")  # profiles named profile.yaml (profiles/)


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/store.smk"
include: "rules/estimate.smk"
include: "rules/removal.smk"
include: "rules/figures.smk"
include: "rules/tables.smk"
include: "rules/lastlayer.smk"
include: "rules/compare.smk"
include: "rules/explorer.smk"
include: "rules/detectors.smk"


# Rules too light to submit to a cluster run on the submitting host.
localrules:
    all,


rule all:
    input:
        get_final_output(),
