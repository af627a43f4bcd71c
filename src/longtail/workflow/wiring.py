"""How the workflow's rules are wired: which files a job reads, which parameters decide whether
it reruns, which targets a run builds. ``rules/common.smk`` validates the config, builds one
:class:`Wiring` from it and names its methods as the rules' input and parameter functions
(``get_trial_shards = WIRING.get_trial_shards``); the rules ask nothing else.

Everything here is a pure function of the validated config (defaults filled in) and of each
study's :class:`longtail.config.study.Study`: an input function takes the job's ``wildcards`` (any
object with the attributes ``study``, ``part``, ``group``, ``dataset`` it reads) and returns
paths or parameters, so it is tested without Snakemake (tests/test_workflow_wiring.py). Paths
are relative to the working directory, as the rules name them. Parameters are key-sorted
(:func:`longtail.config.study.canonical`), so reordering the config reruns nothing.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import product
from typing import Any

from longtail.config.schema import schema_default
from longtail.config.study import Study, canonical
from longtail.workflow.checks import released_studies
from longtail.workflow.detector_wiring import DetectorWiring

FIGURE_FORMATS = ("pdf", "png")
TABLE_FORMATS = ("csv", "md", "tex", "html")


def expand(pattern: str, **values: Iterable[Any]) -> list[str]:
    """``pattern`` formatted with every combination of ``values`` (the first keyword varies
    slowest), as Snakemake's ``expand`` does."""
    names = list(values)
    return [pattern.format(**dict(zip(names, combo, strict=True)))
            for combo in product(*(list(values[name]) for name in names))]


def study_regex(studies: Sequence[str]) -> str:
    """A wildcard constraint matching exactly these study names (nothing when empty)."""
    return "|".join(studies) if studies else "(?!)"


@dataclass(frozen=True)
class Wiring:
    """The rules' input, parameter and target functions over one validated ``config``.

    ``custom_datasets`` maps an own dataset's cache name to its mapping in the config
    (:func:`longtail.workflow.checks.name_custom_datasets`)."""

    config: Mapping[str, Any]
    studies: Mapping[str, Study]
    custom_datasets: Mapping[str, Mapping[str, Any]]
    # (study, round) -> that round's verdict file, once it exists: in the workflow, Snakemake's
    # checkpoint (evaluating it schedules the round's jobs first); in tests, a plain function.
    round_file: Callable[[str, int], str] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any],
                    custom_datasets: Mapping[str, Mapping[str, Any]] | None = None,
                    round_file: Callable[[str, int], str] | None = None) -> Wiring:
        """Each study's description, built once: its params, fingerprints and shard names."""
        studies = {name: Study.from_config(name, study)
                   for name, study in config["studies"].items()}
        return cls(config, studies, dict(custom_datasets or {}), round_file)

    # ------------------------------------------------------------- studies and their data

    @property
    def data_dir(self) -> str:
        return self.config["data"]["dir"]

    @property
    def released_studies(self) -> list[str]:
        """Studies whose estimates are imported from the authors' released file."""
        return released_studies(self.config)

    @property
    def trained_studies(self) -> list[str]:
        """Studies whose estimates come from their own trials."""
        released = self.released_studies
        return [study for study in self.config["studies"] if study not in released]

    @cached_property
    def detectors(self) -> DetectorWiring:
        """The label-error detectors' studies, K-fold splits and outputs (config
        `detectors`)."""
        return DetectorWiring.from_config(self.config, self.trained_studies)

    def get_study(self, wildcards: Any) -> Study:
        return self.studies[wildcards.study]

    def study_config(self, wildcards: Any) -> dict[str, Any]:
        return canonical(self.get_study(wildcards).config)

    def get_dataset_cache(self, wildcards: Any) -> str:
        return f"{self.data_dir}/{self.get_study(wildcards).dataset}.h5"

    def get_data_sources(self, wildcards: Any) -> dict[str, Any]:
        return canonical(self.config["data"])

    def get_dataset_spec(self, wildcards: Any) -> Mapping[str, Any] | None:
        """An own dataset's mapping from the config (None for a built-in dataset)."""
        return self.custom_datasets.get(wildcards.dataset)

    def get_dataset_source(self, wildcards: Any) -> list[str]:
        """An own dataset's file or folder, so that replacing it rebuilds the cache."""
        spec = self.get_dataset_spec(wildcards)
        return [] if spec is None else [spec.get("root") or spec["path"]]

    def get_download_dir(self, wildcards: Any) -> str:
        return self.data_dir  # the data layer keeps each dataset's originals in a subfolder

    def get_trial_shards(self, wildcards: Any) -> list[str]:
        """The study's training jobs: of its t, or (a study that trains until its findings
        replicate) of the t its last round stopped at."""
        study = self.get_study(wildcards)
        trials = None if study.until is None else self.final_round(wildcards)["t"]
        return expand("results/{study}/trials/{shard}.h5", study=[wildcards.study],
                      shard=study.trial_shard_names(trials))

    # ------------------------------------------------------------- training until replicated

    @property
    def until_studies(self) -> list[str]:
        """Studies that train ``trials.step`` trials a round until their findings replicate."""
        return [name for name, study in self.studies.items() if study.until is not None]

    def get_round_shards(self, wildcards: Any) -> list[str]:
        """The training jobs of rounds 0..``wildcards.round`` (the study at that round's t)."""
        study = self.get_study(wildcards)
        trials = study.until.trials_at(int(wildcards.round))
        return expand("results/{study}/trials/{shard}.h5", study=[wildcards.study],
                      shard=study.trial_shard_names(trials))

    def final_round_file(self, wildcards: Any) -> str:
        """The verdict file of the round the study stopped at: rounds are asked for in turn
        (each one only once the one before said to go on)."""
        study = self.get_study(wildcards)
        if self.round_file is None:
            raise ValueError("this wiring cannot evaluate rounds (no round_file)")
        for round_index in range(study.until.rounds):
            path = self.round_file(wildcards.study, round_index)
            with open(path) as fh:
                if json.load(fh)["stop"]:
                    return path
        return path  # the last round stops at max; a verdict that says otherwise is stale

    def final_round(self, wildcards: Any) -> dict[str, Any]:
        with open(self.final_round_file(wildcards)) as fh:
            return json.load(fh)

    def get_until_verdict(self, wildcards: Any) -> list[str]:
        """[the last round's verdict] for a study that trains until its findings replicate,
        [] for a study of fixed t."""
        return [] if self.get_study(wildcards).until is None \
            else [self.final_round_file(wildcards)]

    def get_data_params(self, wildcards: Any) -> dict[str, Any]:
        """Only what determines the study's data, so unrelated edits do not rebuild it."""
        return self.get_study(wildcards).data_params()

    def get_training_params(self, wildcards: Any) -> dict[str, Any]:
        """What determines a trial; excludes `trials`, so adding trials retrains nothing old."""
        return self.get_study(wildcards).training_params()

    def get_store_params(self, wildcards: Any) -> dict[str, Any]:
        """The study as the correctness store records it; `removal` is left out, so a change
        of Fig. 2's thresholds or repeats re-aggregates and re-estimates nothing."""
        return self.get_study(wildcards).store_params()

    def get_description_params(self, wildcards: Any) -> dict[str, Any]:
        """What `about.json` reports: the trials' parameters and t (not removal or plots)."""
        return self.get_study(wildcards).all_trials_params()

    # ------------------------------------------------------------- last layer, comparison

    def get_lastlayer_study(self, wildcards: Any) -> dict[str, Any]:
        """What determines the linear trials of a study: its trials' parameters and t."""
        return self.get_study(wildcards).all_trials_params()

    def get_lastlayer_train(self, wildcards: Any) -> dict[str, Any]:
        return canonical(self.config["lastlayer"]["train"])

    def group_members(self, wildcards: Any) -> list[str]:
        return self.config["compare"]["groups"][wildcards.group]

    def get_group_stores(self, wildcards: Any) -> list[str]:
        return expand("results/{study}/correctness.h5", study=self.group_members(wildcards))

    def get_group_seed(self, wildcards: Any) -> int:
        """The split of the common trials into halves is seeded by the (shared) study seed."""
        return self.config["studies"][self.group_members(wildcards)[0]]["seed"]

    def get_group_min_out_trials(self, wildcards: Any) -> int:
        return min(self.config["studies"][study]["min_out_trials"]
                   for study in self.group_members(wildcards))

    def get_comparison_outputs(self) -> list[str]:
        """Tables and figures of the last-layer and cross-architecture experiments."""
        outputs = []
        if self.config["lastlayer"]["studies"]:
            outputs += ["tables/lastlayer.md", "figures/figC3.pdf"]
        if self.config["compare"]["groups"]:
            outputs += ["tables/arch_comparison.md", "figures/arch_comparison.pdf"]
        return outputs

    # ------------------------------------------------------------- figures and tables

    def figure_studies(self, figure: str) -> list[str]:
        """The studies config `figures.<figure>` names (none when the key is absent)."""
        return self.config.get("figures", {}).get(figure, [])

    def table_studies(self, table: str) -> list[str]:
        """The studies config `tables.<table>` names (none when the key is absent)."""
        return self.config.get("tables", {}).get(table, [])

    def removal_shard_files(self, studies: Iterable[str], families: Sequence[str]) -> list[str]:
        """Removal shards of the studies for the part families: `full` (the baseline), `mem`
        (one part per Fig. 2 threshold), `pairs` (the pairs' training examples) and `random`
        (one part per fraction in `removal.random_fractions`)."""
        paths = []
        for name in studies:
            study = self.studies[name]
            paths += expand("results/{study}/removal/{part}/{shard}.h5", study=[name],
                            part=study.removal_parts(families),
                            shard=study.removal_shard_names())
        return paths

    def get_removal_input(self, wildcards: Any) -> dict[str, str]:
        """data.h5, plus the estimates (mem) for a Fig. 2 threshold part or the pairs for
        `pairs`."""
        results = f"results/{wildcards.study}"
        inputs = {"data": f"{results}/data.h5"}
        if wildcards.part.startswith("mem-"):
            inputs["estimates"] = f"{results}/estimates.h5"
        elif wildcards.part == "pairs":
            inputs["pairs"] = f"{results}/pairs.csv"
        return inputs

    def get_plot_options(self, figure: str) -> dict[str, Any]:
        return canonical(self.config["plots"][figure])

    def drawn_figures(self) -> list[str]:
        return [figure for figure, studies in self.config["figures"].items() if studies]

    def get_figure_outputs(self) -> list[str]:
        """Every configured figure (PDF and PNG) and table (CSV, Markdown, LaTeX, HTML)."""
        tables = [table for table, studies in self.config["tables"].items() if studies]
        return (expand("figures/{figure}.{ext}", figure=self.drawn_figures(), ext=FIGURE_FORMATS)
                + expand("tables/{table}.{ext}", table=tables, ext=TABLE_FORMATS))

    def get_docs_figures(self) -> list[str]:
        """The README's copies of the configured figures (target `docs`)."""
        return expand("docs/figures/{figure}.png", figure=self.drawn_figures())

    # ------------------------------------------------------------- galleries and explorer

    def get_gallery_options(self, wildcards: Any) -> dict[str, Any]:
        return canonical({k: v for k, v in self.config["galleries"].items() if k != "studies"})

    def get_gallery_outputs(self) -> list[str]:
        """The report's galleries of the studies `galleries.studies` lists."""
        return expand("results/{study}/gallery/pairs.png",
                      study=self.config["galleries"]["studies"])

    def get_explorer_outputs(self) -> list[str]:
        """The explorer of every configured study (target `explorer`)."""
        return expand("results/{study}/explorer/index.html", study=self.config["studies"])

    def get_explorer_figures(self, wildcards: Any) -> list[str]:
        """The PNGs of the configured figures that draw this study alone (linked from its
        explorer): a figure that also draws another study would make the explorer wait for that
        study's training."""
        curve = [f"figures/trials_curve_{wildcards.study}.png"] \
            if wildcards.study in self.trained_studies else []
        return curve + [
            f"figures/{figure}.png"
            for figure, studies in self.config["figures"].items()
            if list(studies or []) == [wildcards.study]
        ]

    def get_explorer_inputs(self, wildcards: Any) -> dict[str, Any]:
        """What a study's explorer shows: estimates, images, pairs and summary, its
        description, the reliability report (studies with trials) and the figures that draw
        it."""
        results = f"results/{wildcards.study}"
        inputs: dict[str, Any] = {
            name: f"{results}/{name}.{ext}"
            for name, ext in (("estimates", "h5"), ("data", "h5"), ("pairs", "csv"))
        }
        inputs.update(summary=f"{results}/summary.json", about=f"{results}/about.json")
        if wildcards.study in self.trained_studies:
            inputs["reliability"] = f"{results}/reliability.json"
        inputs["figures"] = self.get_explorer_figures(wildcards)
        return inputs

    def get_explorer_options(self, wildcards: Any, input: Any) -> str:
        """`longtail explorer` options beyond the rule's fixed ones: the reliability report
        where the study has one, the figures to copy and link."""
        options = ["--reliability", input.reliability] if "reliability" in input.keys() else []
        return shlex.join(options + ["--figures", *input.figures])

    def get_docs_explorer(self, wildcards: Any) -> str:
        """The explorer the README's screenshot shows: that of the first configured study."""
        return f"results/{next(iter(self.config['studies']))}/explorer/index.html"

    def get_docs_trials_curve(self, wildcards: Any) -> str:
        """The trials curve the README shows: that of the first configured study."""
        return f"figures/trials_curve_{next(iter(self.config['studies']))}.png"

    def get_docs_explorer_view(self, wildcards: Any) -> str:
        """The view of the screenshot (a URL hash): the training examples, most memorized
        first."""
        return "#grid?split=train&sort=mem"

    def get_final_output(self) -> list[str]:
        """What `snakemake` builds without a target (rule `all`)."""
        return (expand("results/{study}/{name}", study=self.config["studies"],
                       name=["pairs.csv", "summary.json"])
                + expand("results/{study}/{name}", study=self.trained_studies,
                         name=["consistency.csv", "reliability.json", "trials_curve.csv",
                               "forecast.json"])
                + expand("figures/trials_curve_{study}.{ext}", study=self.trained_studies,
                         ext=FIGURE_FORMATS)
                + self.get_comparison_outputs()
                + self.get_figure_outputs()
                + self.get_gallery_outputs()
                + self.detectors.outputs())

    # ------------------------------------------------------------- selection

    def get_thresholds(self, wildcards: Any) -> dict[str, float]:
        """Fixed (mem, infl) for the stages that do not search a grid (last layer,
        architecture comparison): there `auto` stands for the paper's value (Section 2's, the
        schema's default). Key-sorted."""
        thresholds = self.config["thresholds"]
        return {key: schema_default("thresholds", key) if thresholds[key] == "auto"
                else thresholds[key] for key in ("infl", "mem")}

    def get_selection_inputs(self, wildcards: Any) -> dict[str, str]:
        """The estimates and, for a study with trials, the reliability report the selection
        reads its thresholds from (released estimates have no trials to split in halves)."""
        inputs: dict[str, Any] = {"estimates": f"results/{wildcards.study}/estimates.h5"}
        if wildcards.study in self.trained_studies:
            inputs["reliability"] = f"results/{wildcards.study}/reliability.json"
            inputs["forecast"] = f"results/{wildcards.study}/forecast.json"
            inputs["until"] = self.get_until_verdict(wildcards)
        return inputs

    def get_selection_options(self, wildcards: Any, input: Any, output: Any) -> str:
        """`longtail pairs` options beyond the thresholds: a study with trials selects at
        those of its reliability report; the caption where the rule writes one."""
        options = []
        if "reliability" in input.keys():
            options += ["--reliability", input.reliability, "--forecast", input.forecast]
        if input.get("until"):
            options += ["--until", input.until[0]]
        if "rst" in output.keys():
            options += ["--caption", output.rst]
        return shlex.join(options)

    def get_selection_settings(self, wildcards: Any) -> dict[str, Any]:
        """Thresholds (numbers or `auto`), grids, target and permutations of the selection
        and its reliability (rules/estimate.smk), key-sorted so that reordering reruns
        nothing."""
        return canonical(self.config["thresholds"])
