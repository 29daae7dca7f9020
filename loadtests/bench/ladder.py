"""Where each target's ladder goes (no I/O: pure logic): round 1 climbs, later rounds repeat.

Round 1: every target climbs one sequence of absolute offered rates common to all targets
(the latency curve: 250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000 ...), from its lowest
rung to a little above its own closed-loop peak, until a rung fails far beyond the bound. The
knee lies between the last passing rung and the first one above it that did not pass; a grid
of geometric steps of about KNEE_STEP spans that bracket, and a bisection on the grid finds
round 1's knee. The rungs fixed for the run are the knee, the grid step above it and two
below it (``window``), and, for each pair, the common rung at about half the lower of the two
targets' closed-loop capacities (their latency comparison's rung; the headline's is the same
for every target at once). Rounds 2... measure exactly those.

Navigation reads each step on its own (p99 within the bound, nothing failed or dropped); the
run's decisions come later, from every round's answers pooled (``loadtests.bench.pooling``).
A step's answers are timed from their intended send, so a client that sent late only adds to
every latency: a step that passes stands whatever the send lag; one that fails while the lag
was above LAG_SHARE of the bound is "unknown" (the lag alone could have failed it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from loadtests.bench.config import LOW_RUNG, SLOW_PEAK_RPS

SLO_MS = 25.0
# A send lag can change a decision about a latency only when it is a sizeable share of it:
# a step's send-lag p99 above LAG_SHARE of the bound (2.5 ms at the default 25 ms) makes it
# invalid for the bound's decision, and above LAG_SHARE of a p99 makes that p99 unfit to be
# reported. (It was a flat 1 ms, which struck out 16-25 % of a default run's steps on a
# 2-core VM although a 1 ms lag cannot move a 25 ms decision.)
LAG_SHARE = 0.1
STOP_FACTOR = 10.0
KNEE_STEP = 0.10  # the grid between the last passing and the first failing common rung
# The knee's window reaches this many grid steps below round 1's knee (about -21 %): on the
# 2-core VM a target's wrk figure moved ±20 % from one round's process to the next.
WINDOW_BELOW = 2
# A pair's p99 and p50 are compared at the highest common rung at or below this share of the
# lower of the two targets' closed-loop capacities (round 1's wrk figures); the headline shows
# every target's p99 at the same rule's rung for all targets at once. Near a knee p99 is all or
# nothing (a few ms, or a queue of hundreds): the A/A control compared at the highest rung both
# passed, just under FastAPI def's knee, came out 17.9x (95 % CI 1.21-18.1) in one run; at half
# the capacity both sides are queue-free (the knee lay at 0.50-1.17 of it, median 0.72). It
# was 70 % of the lower round-1 knee among the rungs both passed in round 1, but a knee moves
# far more from run to run than a wrk figure: over 15 default runs on the Intel Xeon VM (five
# batches of three) that rule put a pair on the same rung in all three runs of its batch for 18
# of 40 pairs, and the headline on one rung in no batch; half the capacity did so for 36 of 40
# pairs and 5 of 5 headlines, so a p99 word can be compared from run to run at all. Runs made
# before the pooled ladder are compared the same way, at a rate every round measured
# (``compare.common_rate``; the report's headline for them, ``report.load.common_rate``).
PAIR_RUNG_SHARE = 0.5
KNEE_PAIR_SHARE = 0.7  # the old rule's share of the lower knee, where no capacity is known
# A target climbs to the first rung at or above TOP_HEADROOM x its own closed-loop peak
# (wrk, measured just before in the same visit), so its knee is inside its climb.
TOP_HEADROOM = 1.25

# Round 1's knee is suspect below this share of the target's own closed-loop capacity (its wrk
# figure in round 1): over 96 target-runs of 12 default runs on the Intel Xeon VM the knee lay at
# 0.50-1.17 of it (median 0.72), but for three climbs a disturbance had cut short (0.26-0.35;
# one put FastAPI def's knee at 545 req/s, its later rounds then passing every rung up to it
# with a p99 of 3-7 ms, and the A/A control called its twin 2.29x faster). Rounds 2... then
# also measure RECOVERY_SHARES of that capacity, so the pooled rounds can place the sustainable
# figure where they find it rather than where one disturbed climb left it.
SUSPECT_KNEE_SHARE = 0.4
RECOVERY_SHARES = (0.45, 0.52, 0.6, 0.69)  # ~15 % apart, up to about the median knee

Verdict = Literal["pass", "fail", "unknown"]


@dataclass(frozen=True)
class Reading:
    """What one step showed, read on its own (the navigation's view)."""

    rate: float
    p99_ms: float | None
    failures: int  # failed plus dropped
    send_lag_p99_ms: float | None


def lag_limit_ms(slo_ms: float) -> float:
    """Return the send-lag p99 above which a step is invalid for the bound's decision."""
    return LAG_SHARE * slo_ms


def p99_fit(p99_ms: float | None, send_lag_p99_ms: float | None) -> bool:
    """Tell whether a step's p99 may be reported: its send lag below LAG_SHARE of it."""
    if p99_ms is None:
        return False
    return (send_lag_p99_ms or 0.0) <= LAG_SHARE * p99_ms


def navigate(reading: Reading, slo_ms: float) -> Verdict:
    """Read one step on its own: pass, fail, or unknown (a failure its send lag could explain)."""
    if reading.p99_ms is not None and not reading.failures and reading.p99_ms <= slo_ms:
        return "pass"
    lagged = (reading.send_lag_p99_ms or 0.0) > lag_limit_ms(slo_ms)
    return "unknown" if lagged and not reading.failures else "fail"


def stops_climb(reading: Reading, slo_ms: float, stop_factor: float = STOP_FACTOR) -> bool:
    """Tell whether a rung is past the point worth climbing on from (failures, or p99 far out)."""
    p99 = reading.p99_ms
    return bool(reading.failures or p99 is None or p99 > stop_factor * slo_ms)


def lowest_rung(peak_rps: float | None) -> float:
    """Return where a target's climb starts: LOW_RUNG, or 250 req/s for a target slower than
    SLOW_PEAK_RPS (or of unknown speed)."""
    return LOW_RUNG if peak_rps and peak_rps >= SLOW_PEAK_RPS else 250.0


def common_ladder(top_rps: float, lowest: float = LOW_RUNG) -> list[float]:
    """Return the common rates 250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000 ...
    from ``lowest`` up to the first rung at or above top_rps."""
    rungs: list[float] = []
    rate, k = 250.0, 0
    while True:
        if rate >= lowest:
            rungs.append(rate)
            if rate >= top_rps:
                return rungs
        # 250, 500, 1000, then x1.5 and x4/3 in turn: 1, 1.5, 2, 3, 4, 6, 8, 12, 16 (x1000)
        rate = rate * 2 if rate < 1000 else float(round(rate * (1.5 if k % 2 == 0 else 4 / 3)))
        k += rate > 1000


def climb_rungs(ladder: Sequence[float] | None, peak_rps: float | None) -> list[float]:
    """Return the rungs a target climbs in round 1: the given ladder, or the common rates from
    its lowest rung to TOP_HEADROOM x its own peak."""
    if ladder:
        return sorted(ladder)
    return common_ladder(TOP_HEADROOM * (peak_rps or 0.0), lowest_rung(peak_rps))


def knee_grid(low: float, high: float, step: float = KNEE_STEP) -> list[float]:
    """Return geometric rates from low to high (both included), steps of at most ~step."""
    if not 0 < low < high:
        raise ValueError(f"a knee grid needs 0 < low < high, got {low:g}, {high:g}")
    n = max(1, math.ceil(math.log(high / low) / math.log(1 + step) - 1e-9))
    return [low, *(float(round(low * (high / low) ** (k / n))) for k in range(1, n)), high]


@dataclass
class Climb:
    """Round 1 of one target: every step read on its own, and where its knee lies."""

    readings: dict[float, Verdict] = field(default_factory=dict)
    rungs: list[float] = field(default_factory=list)  # the common rungs it climbed
    knee: float | None = None  # the highest grid rate that passed (None: not even the first)
    at_least: bool = False  # the top rung passed: the knee is above the climb
    window: list[float] = field(default_factory=list)  # the rungs fixed for every round
    notes: list[str] = field(default_factory=list)

    def passed(self) -> list[float]:
        """Return the rates that passed on their own in round 1, ascending."""
        return sorted(r for r, v in self.readings.items() if v == "pass")

    def common_passed(self) -> set[float]:
        """Return the common ladder rungs that passed in round 1 below the first that did
        not (a pass above a failure is not counted)."""
        return set(_prefix(self))


def climb(
    measure: Callable[[float], Reading],
    rungs: Sequence[float],
    *,
    slo_ms: float = SLO_MS,
    step: float = KNEE_STEP,
    stop_factor: float = STOP_FACTOR,
) -> Climb:
    """Climb the rungs, bisect the bracket on a grid of ~step, fix the knee's window (round 1).

    The bracket lies between the last rung that passed below the first one that did not
    (after its second look, if it failed mildly) and that one: a pass above a failure does
    not count. The window is the knee, the grid point above it and WINDOW_BELOW rungs below
    it, each measured here once if the climb and the bisection did not; with no passing rung
    it is the lowest rung, with the top rung passing the top two rungs.
    """
    rates = sorted(rungs)
    if not rates:
        raise ValueError("the ladder has no rungs")
    out = Climb()

    def read(rate: float) -> Verdict:
        if rate not in out.readings:
            out.readings[rate] = navigate(measure(rate), slo_ms)
        return out.readings[rate]

    mild: set[float] = set()  # rungs that did not pass, but not by far: worth a second look
    for rate in rates:
        reading = measure(rate)
        out.readings[rate] = navigate(reading, slo_ms)
        out.rungs.append(rate)
        if out.readings[rate] != "pass" and not stops_climb(reading, slo_ms, stop_factor):
            mild.add(rate)
        if stops_climb(reading, slo_ms, stop_factor):
            break
    _confirm(measure, out, mild, slo_ms)
    passing = _prefix(out)
    lucky = [r for r in out.passed() if (passing and r > passing[-1]) or not passing]
    if lucky:
        out.notes.append(
            f"{', '.join(f'{r:g}' for r in lucky)} req/s passed above a rung that did not: "
            "not counted, a rate is sustainable only when every rate below it passed"
        )
    unknown = [r for r, v in out.readings.items() if v == "unknown"]
    if unknown:
        out.notes.append(
            f"{', '.join(f'{r:g}' for r in sorted(unknown))} req/s: failed with a send lag that "
            "could explain it (unknown, counted as not passing)"
        )
    if not passing:
        out.window = [rates[0]]
        out.notes.append(f"the lowest rung ({rates[0]:g} req/s) did not pass")
        return out
    low = passing[-1]
    above = sorted(r for r in out.rungs if r > low and out.readings[r] != "pass")
    if not above:
        out.knee, out.at_least = low, True
        out.window = [r for r in rates if r <= low][-2:]
        out.notes.append(f"at least {low:g} req/s: every rung climbed passed")
        return out
    grid = knee_grid(low, above[0], step)
    lo, hi = 0, len(grid) - 1  # grid[lo] passed, grid[hi] did not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if read(grid[mid]) == "pass":
            lo = mid
        else:
            hi = mid
    out.knee = grid[lo]
    out.window = window(grid, lo, step)
    for rate in out.window:
        read(rate)
    return out


def window(grid: Sequence[float], knee: int, step: float = KNEE_STEP) -> list[float]:
    """Return the rungs fixed around round 1's knee (grid[knee]): the grid point above it, the
    knee, and WINDOW_BELOW rungs of ~step below it (the grid's, then further geometric steps).

    Below rather than above, because a target's capacity moves between rounds (each round its
    own process, the machine's own minute): a rung every round passes must be measured, or the
    pooled figure falls to the next rung fixed for another reason, far below the knee."""
    below = list(grid[max(0, knee - WINDOW_BELOW) : knee])
    while len(below) < WINDOW_BELOW:
        below.insert(0, float(round((below[0] if below else grid[knee]) / (1 + step))))
    return sorted({*below, grid[knee], *grid[knee + 1 : knee + 2]})


def recovery_rungs(knee: float | None, capacity_rps: float | None) -> list[float]:
    """Return the rungs added to a target's fixed ones when round 1's knee is suspect (below
    SUSPECT_KNEE_SHARE of its closed-loop capacity): RECOVERY_SHARES of that capacity, rounded
    to whole req/s; none when the knee is plausible or either figure is unknown."""
    if not knee or not capacity_rps or knee >= SUSPECT_KNEE_SHARE * capacity_rps:
        return []
    return [float(round(share * capacity_rps)) for share in RECOVERY_SHARES]


def _prefix(out: Climb) -> list[float]:
    """Return the climbed rungs that passed below the first one that did not, ascending."""
    passing = []
    for rate in out.rungs:
        if out.readings[rate] != "pass":
            break
        passing.append(rate)
    return passing


def _confirm(
    measure: Callable[[float], Reading], out: Climb, mild: set[float], slo_ms: float
) -> None:
    """Measure the first climbed rung that did not pass again while it failed only mildly: one
    slow second (a thread pool's burst, another process's moment on the core) must not cap
    the knee for the whole run, since later rounds measure only the rungs fixed around it. A
    rung that passes the second time counts as passed, and the next one up gets the same
    look. A rung that fails twice caps the knee, even if a higher one passed: on a shared
    VM a fast second passes a rate the server cannot sustain as readily as a slow second
    fails one it can (flask passed 1,500 req/s once, above its closed-loop capacity of about
    1,450, and failed it in every later round)."""
    while True:
        low = (_prefix(out) or [0.0])[-1]
        above = sorted(r for r in out.rungs if r > low and out.readings[r] != "pass")
        if not above or above[0] not in mild:
            return
        top = above[0]
        mild.discard(top)
        again = navigate(measure(top), slo_ms)
        out.notes.append(f"{top:g} req/s measured again after a mild failure: {again}")
        if again != "pass":
            return
        out.readings[top] = "pass"


def comparison_rung(capacities: Iterable[float | None], ladder: Sequence[float]) -> float | None:
    """Return the rung latencies are compared at: the highest of the run's common ladder rungs
    at or below PAIR_RUNG_SHARE x the lowest of the targets' closed-loop capacities, else the
    lowest rung. None when no capacity is known (the caller falls back to round 1's passes)
    or the ladder is empty. Whether a target passed it in round 1 does not matter: every later
    round measures it, and the pooled figure decides."""
    known = [c for c in capacities if c]
    rungs = sorted(ladder)
    if not known or not rungs:
        return None
    limit = PAIR_RUNG_SHARE * min(known)
    return max((r for r in rungs if r <= limit), default=rungs[0])


def pair_rung(a: Climb, b: Climb) -> float | None:
    """Return a pair's latency-comparison rung when neither capacity is known: the highest
    common ladder rung both passed in round 1 at no more than KNEE_PAIR_SHARE of the lower of
    their round-1 knees, else the lowest common rung both passed (None when they share none)."""
    both = a.common_passed() & b.common_passed()
    knees = [c.knee for c in (a, b) if c.knee is not None]
    below = {r for r in both if knees and r <= KNEE_PAIR_SHARE * min(knees)}
    return max(below) if below else min(both, default=None)


def headline_rung(climbs: Iterable[Climb], ladder: Sequence[float]) -> float | None:
    """Return the rate the headline shows every target's p99 at when no capacity is known: the
    highest common ladder rung every target passed in round 1, else the lowest rung all of them
    measured."""
    climbs = list(climbs)
    if not climbs:
        return None
    passed = set.intersection(*(c.common_passed() & set(ladder) for c in climbs))
    if passed:
        return max(passed)
    measured = set.intersection(*(set(c.rungs) & set(ladder) for c in climbs))
    return min(measured, default=None)
