"""The sustainable-throughput search over a ladder of offered rates (no I/O: pure logic).

Every target climbs one ladder of absolute rates common to all targets (the latency
curve), then the highest rate it sustains (p99 within the SLO, nothing failed or dropped:
MLPerf Inference's server scenario) is bracketed between its last passing rung and its
first failing one, and halved until the bracket is within a tolerance. A step the load
generator could not vouch for (``valid`` False: it was above 70 % of its core, or late to
send) decides nothing: it is "unknown", and the result says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from loadtests.bench.config import LOW_RUNG, SLOW_PEAK_RPS
from loadtests.bench.results import LG_LIMIT_PCT
from loadtests.loadgen.openloop import StepResult

SLO_MS = 25.0
TOLERANCE = 0.05
STOP_FACTOR = 10.0
MAX_BISECTIONS = 12
# A step is measured again, REMEASURE_FACTOR times as long, when its verdict rests on a few
# tail answers: nothing failed, the median well inside the bound (no queue), and the p99
# near the bound (between BORDER_LOW and BORDER_HIGH times it). In the default run of
# 2026-11-26 16 of 262 steps were such; in 0.8 s one stall of a few tens of ms sets them.
REMEASURE_FACTOR = 2.0
BORDER_LOW, BORDER_HIGH = 0.5, 4.0
# The ladder ends at the first rung at or above TOP_HEADROOM x the fastest probe peak: the
# 1 s probe moves ±5-10 %, and a ladder ending at or just under a fast target's knee
# gives it only a lower bound ("at least 8,000") in some runs and a value in others.
TOP_HEADROOM = 1.25
QUEUE_FREE_P50 = 0.2  # p50 at most this share of the bound: no queue has formed

Verdict = Literal["pass", "fail", "unknown"]


@dataclass
class Step:
    """One measured rate: how the search used it, and why."""

    phase: Literal["ladder", "bisect"]
    verdict: Verdict
    reason: str
    result: StepResult

    def row(self) -> dict[str, object]:
        """Return the step as one point of the latency curve."""
        r = self.result
        return {
            "phase": self.phase,
            "offered_rps": r.offered_rps,
            "achieved_rps": r.achieved_rps,
            "p50_ms": r.p50_ms,
            "p99_ms": r.p99_ms,
            "p999_ms": r.p999_ms,
            "failed": r.failed,
            "dropped": r.dropped,
            "valid": r.valid,
            "verdict": self.verdict,
            "reason": self.reason,
        }


@dataclass
class Search:
    """The whole search: every step in the order measured, and what it concluded."""

    slo_ms: float
    steps: list[Step] = field(default_factory=list)
    sustainable_rps: float | None = None  # None: not even the first rung passed
    at_least: bool = False  # the top rung still passed: the true rate is higher
    bracket: tuple[float, float] | None = None  # last pass, first fail, when both are known
    notes: list[str] = field(default_factory=list)  # unknown steps, non-monotone curves

    @property
    def undecided(self) -> bool:
        """Tell whether an unknown (invalid) step stopped the search short of its answer."""
        return any(s.verdict == "unknown" for s in self.steps)

    def curve(self) -> list[dict[str, object]]:
        """Return the latency curve: every step sorted by offered rate."""
        return [s.row() for s in sorted(self.steps, key=lambda s: s.result.offered_rps)]


def judge(result: StepResult, slo_ms: float) -> tuple[Verdict, str]:
    """Pass iff p99 <= slo and nothing failed or dropped; an invalid step is unknown, unless it
    failed in a way its generator's lag cannot explain.

    A generator that lagged (send-lag p99 above the limit) while it had CPU to spare cannot
    vouch for a pass, but it cannot cause a request to fail, to go unanswered for seconds, or
    a p99 above the bound by more than its own lag: such a step is a real failure.
    """
    if not result.valid:
        lag = result.send_lag_p99_ms or 0.0
        p99 = result.p99_ms
        beyond = p99 is not None and p99 - lag > slo_ms
        had_cpu = result.client_cpu_percent <= LG_LIMIT_PCT
        if had_cpu and (result.failed or result.dropped or beyond):
            return "fail", (
                f"p99 {p99} ms, {result.failed} failed, {result.dropped} dropped: beyond what "
                f"the generator's {lag:g} ms send lag explains"
            )
        return "unknown", "the load generator could not vouch for this step"
    if result.failed or result.dropped:
        return "fail", f"{result.failed} failed, {result.dropped} dropped"
    if result.p99_ms is None:
        return "fail", "no answer"
    if result.p99_ms > slo_ms:
        return "fail", f"p99 {result.p99_ms:g} ms > {slo_ms:g} ms"
    return "pass", f"p99 {result.p99_ms:g} ms"


def borderline(result: StepResult, slo_ms: float) -> bool:
    """Tell whether a valid step's verdict rests on a few tail answers: nothing failed or
    dropped, no queue (p50 within QUEUE_FREE_P50 of the bound), p99 near the bound."""
    p50, p99 = result.p50_ms, result.p99_ms
    if not result.valid or result.failed or result.dropped or p50 is None or p99 is None:
        return False
    return p50 <= QUEUE_FREE_P50 * slo_ms and BORDER_LOW * slo_ms <= p99 <= BORDER_HIGH * slo_ms


def decide(run: Callable[[float, bool], StepResult], rate: float, slo_ms: float) -> StepResult:
    """Measure a rate (``run(rate, longer)``); where that verdict is borderline, measure it
    again for longer and return the longer measurement, which decides."""
    first = run(rate, False)
    return run(rate, True) if borderline(first, slo_ms) else first


def stops_climb(result: StepResult, slo_ms: float, stop_factor: float) -> bool:
    """Tell whether a rung is past the point worth climbing on from (failures, or p99 far out)."""
    p99 = result.p99_ms
    return bool(result.failed or result.dropped or p99 is None or p99 > stop_factor * slo_ms)


def search(
    measure: Callable[[float], StepResult],
    ladder: Sequence[float],
    *,
    slo_ms: float = SLO_MS,
    tolerance: float = TOLERANCE,
    stop_factor: float = STOP_FACTOR,
    max_bisections: int = MAX_BISECTIONS,
) -> Search:
    """Climb the ladder, then bisect between the highest verified pass and the lowest rate
    above it not verified to pass (a failure, or a step the generator could not vouch for)."""
    rates = sorted(ladder)
    if not rates:
        raise ValueError("the ladder has no rungs")
    out = Search(slo_ms=slo_ms)
    first_fail: float | None = None
    for rate in rates:
        result = measure(rate)
        verdict, reason = judge(result, slo_ms)
        out.steps.append(Step("ladder", verdict, reason, result))
        if verdict == "fail" and first_fail is None:
            first_fail = rate
        if stops_climb(result, slo_ms, stop_factor):
            break
    ladder_steps = list(out.steps)
    passing = [s.result.offered_rps for s in ladder_steps if s.verdict == "pass"]
    for s in ladder_steps:
        if s.verdict == "unknown":
            out.notes.append(f"{s.result.offered_rps:g} req/s: unknown ({s.reason})")
    if first_fail is not None and any(r > first_fail for r in passing):
        out.notes.append(
            f"non-monotone: a rung above the first failure ({first_fail:g} req/s) passed; "
            "the highest rung that passed counts (a passing step cannot be luck the way a "
            "failing one can be a hiccup)"
        )
    if not passing:
        out.notes.append(
            "no rung could be judged"
            if first_fail is None
            else f"the lowest judged rung failed ({first_fail:g} req/s)"
        )
        return out
    # The sustainable rate is the highest rate a valid step verified; the bracket's top is
    # the lowest rate above it that was not verified to pass (failed, or unknown).
    lo = max(passing)
    unverified = [s.result.offered_rps for s in ladder_steps if s.verdict != "pass"]
    above = [r for r in unverified if r > lo]
    if not above:
        out.sustainable_rps = lo
        out.at_least = True
        out.notes.append(f"at least {lo:g} req/s: no measured rung above it failed")
        return out
    hi = min(above)
    for _ in range(max_bisections):
        if hi - lo <= tolerance * lo:
            break
        mid = round((lo + hi) / 2, 1)
        result = measure(mid)
        verdict, reason = judge(result, slo_ms)
        out.steps.append(Step("bisect", verdict, reason, result))
        if verdict == "pass":
            lo = mid
        else:
            hi = mid
            if verdict == "unknown":
                out.notes.append(f"{mid:g} req/s: unknown ({reason}); counted as not verified")
    out.sustainable_rps = lo
    out.bracket = (lo, hi)
    return out


def lowest_rung(slowest_peak_rps: float | None) -> float:
    """Return where the ladder starts: LOW_RUNG, or 250 req/s for a target slower than
    SLOW_PEAK_RPS (or of unknown speed)."""
    return LOW_RUNG if slowest_peak_rps and slowest_peak_rps >= SLOW_PEAK_RPS else 250.0


def default_ladder(fastest_peak_rps: float, lowest: float = LOW_RUNG) -> list[float]:
    """Return absolute rates 250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, ...
    from ``lowest`` up to the first rung at or above the fastest target's peak."""
    rungs: list[float] = []
    rate, k = 250.0, 0
    while True:
        if rate >= lowest:
            rungs.append(rate)
            if rate >= fastest_peak_rps:
                return rungs
        # 250, 500, 1000, then x1.5 and x4/3 in turn: 1, 1.5, 2, 3, 4, 6, 8, 12, 16 (x1000)
        rate = rate * 2 if rate < 1000 else float(round(rate * (1.5 if k % 2 == 0 else 4 / 3)))
        k += rate > 1000
