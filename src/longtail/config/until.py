"""Training until the findings replicate: ``trials: {until: {pairs: 0.7}, step: 512, max: 8192}``.

A study trains ``step`` trials a round, and after round r (its first t_r = min((r + 1) step,
max) trials) measures the R-split mean Jaccard of the selection named in ``until``
(:func:`longtail.estimators.trials_curve.curve_point`, the trials curve at t_r): the pairs at
``thresholds.infl`` (a number, or ``auto``: any value of the grid) with at least
``thresholds.min_pairs`` pairs a half, or the memorized set at ``thresholds.mem``. It stops
at the first round that reaches the target, or at ``max``. A round's trials are those of a
study with ``trials: t_r`` (a trial depends only on the seed and its id, and rounds are cut
at multiples of ``trials_per_job``), so a study that stopped at t = N is the study with
``trials: N``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from longtail.config.defaults import SELECTIONS
from longtail.config.errors import ConfigError


class UntilError(ConfigError):
    """A ``trials: {until: ...}`` spec that cannot be run; the message names the key."""


@dataclass(frozen=True)
class Until:
    """A parsed ``trials: {until: {SET: TARGET}, step: STEP, max: MAX}``."""

    set: str
    target: float
    step: int
    max: int

    @classmethod
    def parse(cls, spec: Mapping[str, Any], key: str = "trials",
              trials_per_job: int | None = None) -> Until:
        """The spec, checked; an :class:`UntilError` names the bad key and what is allowed."""
        until = spec.get("until")
        if not isinstance(until, Mapping) or len(until) != 1:
            raise UntilError(f"{key}.until must name one selection and its target, "
                             f"{{pairs: 0.7}} or {{memorized: 0.9}}; got {until!r}")
        (name, target), = until.items()
        if name not in SELECTIONS:
            raise UntilError(f"{key}.until.{name}: unknown selection; allowed: "
                             f"{', '.join(SELECTIONS)}")
        if isinstance(target, bool) or not isinstance(target, (int, float)) \
                or not 0 < target <= 1:
            raise UntilError(f"{key}.until.{name} = {target!r}: the target Jaccard must be a "
                             f"number in (0, 1]")
        step, most = spec.get("step"), spec.get("max")
        for field, value in (("step", step), ("max", most)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise UntilError(f"{key}.{field} = {value!r}: must be an integer")
        if step <= 0:
            raise UntilError(f"{key}.step = {step}: must be > 0")
        if most < step:
            raise UntilError(f"{key}.max = {most} is smaller than {key}.step = {step}")
        if trials_per_job and step % trials_per_job:
            raise UntilError(f"{key}.step = {step} must be a multiple of trials_per_job = "
                             f"{trials_per_job} (each round's shards are then those of a "
                             f"study with that many trials)")
        return cls(name, float(target), step, most)

    @property
    def rounds(self) -> int:
        """The most rounds the study can take."""
        return -(-self.max // self.step)

    def trials_at(self, round_index: int) -> int:
        """t after round ``round_index`` (0-based)."""
        if not 0 <= round_index < self.rounds:
            raise UntilError(f"round {round_index} is outside 0..{self.rounds - 1}")
        return min((round_index + 1) * self.step, self.max)


def until_of(trials: Any) -> Until | None:
    """The :class:`Until` of a study's ``trials`` value, None for a fixed count."""
    return Until.parse(trials) if isinstance(trials, Mapping) else None


def until_summary(rounds: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, Any]:
    """``summary.json``'s ``trials_until`` from the last round's verdict: {target, set,
    reached, t, rounds, reason} (and the measured Jaccard)."""
    last = rounds[-1] if isinstance(rounds, Sequence) else rounds
    return {"target": last["target"], "set": last["set"], "reached": last["reached"],
            "t": last["t"], "rounds": last["round"] + 1, "reason": last["reason"],
            "step": last["step"], "max": last["max"], "jaccard": last["jaccard"],
            "infl": last["infl"], "mem": last["mem"]}
