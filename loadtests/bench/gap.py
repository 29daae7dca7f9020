"""How the run's wrk figure and wrk against the same target alone are read against each other.

Kept apart from ``loadtests.bench.alone`` (which starts servers) so that the report reads a
gap by the same rule the run warned by, without importing the run's machinery.

A gap past ALONE_TOLERANCE has three readings, tried in this order:

- ``machine``: every target's standalone figure moved together. The median of the run's
  run : alone ratios (``machine_shift``, over at least MIN_SHIFT_TARGETS targets) is the
  machine's own change of speed between the rounds and the standalone passes, measured by
  the workload itself; a target within the tolerance once that shift is divided out moved
  with the machine, not on its own.
- ``process``: after the machine's shift the standalone figure lies within the 95 %
  prediction interval of one more round (``one_more_round``, Student's t over the rounds'
  figures). The standalone figure is one fresh process's passes, made exactly as a round's
  figure is, so a sixth process lands outside the range of five with probability 2/6 by
  chance alone; the prediction interval is the spread the rounds themselves allow.
- ``run``: outside even that. Something of the run moves this target.
- ``unknown``: fewer than MIN_ROUNDS_FOR_SPREAD rounds, so one more round's spread is not
  known and neither "process" nor "run" can be told (a QUICK run's two rounds).

Read on the 189 target-runs of the 27 default runs made on the Intel Xeon VM between
2026-12-07 16:27 and 12-08 00:02 (4 or 5 rounds): 86 agreed within 10 %, 50 more once the
machine's shift was divided out, 49 more within one more round's spread, and 4 were outside
(a 95 % interval leaves about 9 of 189 out by chance alone). The rule before this one read a
figure outside the rounds' range as "the run": 67 of the 175 whose range was recorded.

The server core's calibration just before the standalone passes is recorded beside them
(``Alone.machine_off``) but names no cause: over 91 target-runs of 13 default runs on that VM
it did not track the gaps (correlation -0.17), as the round calibration did not track the
rounds' figures (``loadtests.bench.noise``). The shift of the targets' own figures does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import mean, median, stdev
from typing import Literal

from scipy.stats import t as student_t

from loadtests.common.runfiles import Alone, RoundFigures

ALONE_TOLERANCE = 0.10  # the run's wrk figure against the target's alone
MIN_SHIFT_TARGETS = 3  # standalone figures needed before their median says the machine moved
PREDICTION = 0.95  # the prediction interval of one more round
MIN_ROUNDS_FOR_SPREAD = 3  # rounds needed for that interval

GapCause = Literal["machine", "process", "run", "unknown"]


@dataclass(frozen=True)
class Gap:
    """What a gap between a target's run figure and its figure alone is made of."""

    cause: GapCause
    shift: float | None  # the run's median run : alone (None: too few targets)
    after_shift: float | None  # this target's run : alone divided by the shift
    low: float | None  # one more round's 95 % prediction interval, req/s
    high: float | None


def machine_shift(ratios: Iterable[float | None]) -> float | None:
    """Return the median run : alone ratio over the run's targets (None under
    MIN_SHIFT_TARGETS): how far the machine's speed moved between the rounds and the
    standalone passes, as every target measured it."""
    present = [r for r in ratios if r is not None and r > 0]
    return median(present) if len(present) >= MIN_SHIFT_TARGETS else None


def one_more_round(rounds: Sequence[float]) -> tuple[float, float] | None:
    """Return the PREDICTION interval of one more round's figure from the rounds' figures
    (mean ± t·s·sqrt(1 + 1/n); None with fewer than MIN_ROUNDS_FOR_SPREAD rounds)."""
    n = len(rounds)
    if n < MIN_ROUNDS_FOR_SPREAD:
        return None
    half = float(student_t.ppf((1 + PREDICTION) / 2, n - 1)) * stdev(rounds) * math.sqrt(1 + 1 / n)
    return mean(rounds) - half, mean(rounds) + half


def read_gap(
    alone_rps: float, ratio: float | None, shift: float | None, rounds: Sequence[float]
) -> Gap:
    """Return the reading of a gap (see the module's docstring for the order)."""
    after = ratio / shift if ratio is not None and shift else None
    band = one_more_round(rounds)
    low, high = band if band else (None, None)
    if after is not None and abs(after - 1) <= ALONE_TOLERANCE:
        return Gap("machine", shift, after, low, high)
    if low is None or high is None:
        return Gap("unknown", shift, after, low, high)
    adjusted = alone_rps * (shift or 1.0)  # the figure alone at the rounds' machine speed
    if low <= adjusted <= high:
        return Gap("process", shift, after, low, high)
    return Gap("run", shift, after, low, high)


def why_apart(gap: Gap) -> str:
    """Return the warning's words for a gap."""
    shift = f"{gap.shift:.2f}" if gap.shift is not None else "not known"
    spread = (
        "the 95 % prediction interval of one more round "
        f"({gap.low or 0:,.0f}-{gap.high or 0:,.0f} req/s)"
    )
    if gap.cause == "machine":
        return (
            f"every target's figure alone moved with it (the run's median run : alone is {shift}):"
            f" the machine's speed changed between the rounds and the end; after that shift "
            f"this target's is {gap.after_shift:.2f}"
        )
    if gap.cause == "unknown":
        return (
            f"too few rounds to know one more round's spread (the machine's shift: {shift}), "
            "so neither one more process's speed nor the run can be told"
        )
    if gap.cause == "process":
        return (
            f"after the machine's shift ({shift}) the figure alone lies within {spread},"
            " so one more process's speed explains it"
        )
    return (
        f"even after the machine's shift ({shift}) the figure alone lies outside {spread}:"
        " something of the run moves this target"
    )


def valid_wrk(rounds: Iterable[RoundFigures]) -> list[float]:
    """Return a target's valid wrk figures, one a round."""
    return [f.wrk_rps for f in rounds if f.wrk_rps and f.wrk_valid]


def read_run(
    targets: Mapping[str, tuple[Alone | None, Iterable[RoundFigures]]],
) -> tuple[float | None, dict[str, Gap]]:
    """Return a run's machine shift and the reading of every target measured alone (its
    Alone and its rounds' figures): the one rule the run warns by, the report shows and
    ``stability`` counts."""
    measured = {
        name: (alone, alone.wrk_rps, valid_wrk(rounds))
        for name, (alone, rounds) in targets.items()
        if alone is not None and alone.ratio is not None and alone.wrk_rps
    }
    shift = machine_shift(alone.ratio for alone, _, _ in measured.values())
    return shift, {
        name: read_gap(rps, alone.ratio, shift, rounds)
        for name, (alone, rps, rounds) in measured.items()
    }
