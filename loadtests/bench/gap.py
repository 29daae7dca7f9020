"""How the run's wrk figure and wrk against the same target alone are read against each other.

Kept apart from ``loadtests.bench.alone`` (which starts servers) so that the report reads a
gap by the same rule the run warned by, without importing the run's machinery.
"""

from __future__ import annotations

from typing import Literal

from loadtests.bench.noise import DRIFT_LIMIT

ALONE_TOLERANCE = 0.10  # the run's wrk figure against the target's alone


GapCause = Literal["machine", "process", "run"]


def gap_cause(
    ratio: float, off: float | None, alone_rps: float, low: float | None, high: float | None
) -> GapCause:
    """Return what a gap between the run's figure (ratio: run / alone) and the figure alone is
    likeliest made of: the machine, when its calibration moved past DRIFT_LIMIT in the
    direction of the gap (off > 0: slower alone, so a lower figure alone); else one more
    process's speed, when the figure alone lies within the rounds' range (low to high); else
    something of the run."""
    if off is not None and abs(off) > DRIFT_LIMIT and (off > 0) == (ratio > 1):
        return "machine"
    if low is not None and high is not None and low <= alone_rps <= high:
        return "process"
    return "run"


def why_apart(ratio: float, off: float | None, alone_rps: float, rounds: list[float]) -> str:
    """Return the warning's words for gap_cause."""
    low, high = (min(rounds), max(rounds)) if rounds else (None, None)
    cause = gap_cause(ratio, off, alone_rps, low, high)
    if cause == "machine":
        return (
            f"the machine itself had moved (the server core's CPU calibration {off or 0:+.0%} "
            "off the run's median just before the passes alone)"
        )
    if cause == "process":
        return (
            f"the figure alone lies within the run's own rounds ({low or 0:,.0f}-{high or 0:,.0f}),"
            " so one more process's speed may explain it"
        )
    return "the figure alone lies outside every round's, so something of the run moves it"
