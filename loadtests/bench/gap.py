"""How the run's wrk figure and wrk against the same target alone are read against each other.

Kept apart from ``loadtests.bench.alone`` (which starts servers) so that the report reads a
gap by the same rule the run warned by, without importing the run's machinery.

The server core's calibration just before the standalone passes is recorded beside them
(``Alone.machine_off``) but names no cause: over 91 target-runs of 13 default runs on the
Intel Xeon VM (2026-12-07) it did not track the gaps (correlation -0.17; of the 21 taken with
the calibration more than DRIFT_LIMIT off the run's median, 7 gaps pointed its way), as the
round calibration did not track the rounds' figures (``loadtests.bench.noise``).
"""

from __future__ import annotations

from typing import Literal

ALONE_TOLERANCE = 0.10  # the run's wrk figure against the target's alone


GapCause = Literal["process", "run"]


def gap_cause(alone_rps: float, low: float | None, high: float | None) -> GapCause:
    """Return what a gap between the run's figure and the figure alone is likeliest made of:
    one more process's speed, when the figure alone lies within the rounds' range (low to
    high), each round being a process of its own; else something of the run."""
    if low is not None and high is not None and low <= alone_rps <= high:
        return "process"
    return "run"


def why_apart(alone_rps: float, rounds: list[float]) -> str:
    """Return the warning's words for gap_cause."""
    low, high = (min(rounds), max(rounds)) if rounds else (None, None)
    if gap_cause(alone_rps, low, high) == "process":
        return (
            f"the figure alone lies within the run's own rounds ({low or 0:,.0f}-{high or 0:,.0f}),"
            " so one more process's speed may explain it"
        )
    return "the figure alone lies outside every round's, so something of the run moves it"
