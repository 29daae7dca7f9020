"""A target's open-loop steps pooled per rung over the rounds: decisions, curve, sustainable rate.

Each rung's counts from every round that counts (valid for the bound's decision, not in a
flagged round) are added up and judged by LoadGen's early-stopping rule
(``loadtests.bench.pooling``). The sustainable throughput is the highest rung that passes;
its interval comes from resampling whole rounds (each round measured its own server
process), so it covers the process, the rounds' noise, and the rule's own uncertainty, not
the machine. A rung that passes says only that the rate lies at or above it and below the
next rung measured above it, so each resample gives that range and the interval runs from
the low ends' lower tail to the high ends' upper tail: the ladder's resolution (about 8 % a
rung near the knee) is inside the interval. The latency curve pools each rate's histograms
the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from statistics import median

from loadtests.bench.pooling import (
    CONFIDENCE,
    PERCENTILE,
    Pool,
    Range,
    conservative_rank,
    judge,
    resampled_range,
)
from loadtests.common.runfiles import (
    CurvePoint,
    RoundFigures,
    Rung,
    RungRound,
    Step,
    Sustainable,
)

Pools = Mapping[tuple[float, int], Pool]  # (offered rate, round) -> the step's latencies


def rung_round(step: Step) -> RungRound:
    """Return what one step adds to its rung's pool."""
    return RungRound(
        round=step.round,
        sent=step.sent,
        ok=step.ok,
        over=step.over,
        failures=step.failed + step.dropped,
        p50_ms=step.p50_ms,
        p99_ms=step.p99_ms,
        send_lag_p99_ms=step.send_lag_p99_ms,
        valid=step.valid,
        invalid_reason=step.invalid_reason,
        hdr=step.hdr,
    )


def counted(rr: RungRound, excluded: Collection[int]) -> bool:
    """Tell whether a round's counts at a rung go into its pool (valid, round not flagged)."""
    return rr.valid and rr.round not in excluded


def decide(
    rounds: Sequence[RungRound],
    weights: Mapping[int, int],
    *,
    slo_ms: float,
    confidence: float = CONFIDENCE,
) -> tuple[str, str, int, int, int]:
    """Judge a rung on its rounds, each counted weights[round] times (0: left out); return the
    decision, its reason, and the pooled answers, answers over the bound and failures."""
    answers = sum(weights.get(r.round, 0) * r.sent for r in rounds)
    over = sum(weights.get(r.round, 0) * r.over for r in rounds)
    failures = sum(weights.get(r.round, 0) * r.failures for r in rounds)
    judged = judge(answers, over, failures, slo_ms=slo_ms, confidence=confidence)
    return judged.decision, judged.reason, answers, over, failures


def pooled_rungs(
    steps: Sequence[Step],
    pools: Pools,
    roles: Mapping[float, Collection[str]],
    excluded: Collection[int],
    *,
    slo_ms: float,
    confidence: float = CONFIDENCE,
) -> list[Rung]:
    """Return every rate a target measured, its rounds' counts pooled and judged."""
    by_rate: dict[float, list[Step]] = defaultdict(list)
    for step in steps:
        by_rate[step.offered_rps].append(step)
    out = []
    for rate, mine in sorted(by_rate.items()):
        rounds = [rung_round(s) for s in sorted(mine, key=lambda s: s.round)]
        used = sorted({r.round for r in rounds if counted(r, excluded)})
        decision, reason, answers, over, failures = decide(
            rounds, dict.fromkeys(used, 1), slo_ms=slo_ms, confidence=confidence
        )
        pool = Pool.of((pools[(rate, r)], 1) for r in used if (rate, r) in pools)
        rank = conservative_rank(pool.total, PERCENTILE, confidence)
        out.append(
            Rung(
                offered_rps=rate,
                roles=sorted(roles.get(rate, ())),
                rounds=rounds,
                pooled_rounds=used,
                answers=answers,
                over=over,
                failures=failures,
                p50_ms=pool.percentile(50),
                p99_ms=pool.percentile(99),
                p999_ms=pool.percentile(99.9),
                p99_early_ms=pool.from_top(rank) if rank else None,
                decision=decision,  # type: ignore[arg-type]
                reason=reason,
            )
        )
    return out


def closed_loop_capacity(rounds: Iterable[RoundFigures]) -> float | None:
    """Return a target's closed-loop capacity: the median of its valid wrk peaks over the
    rounds (else of Locust's); None when no round has one. No open-loop rate a target
    sustains lies above it, so it closes a sustainable range with no rung measured above."""
    figures = list(rounds)
    for rps, ok in (("wrk_rps", "wrk_valid"), ("locust_rps", "locust_valid")):
        values = [getattr(f, rps) for f in figures if getattr(f, ok) and getattr(f, rps)]
        if values:
            return float(median(values))
    return None


def sustainable_at(
    rungs: Sequence[Rung], weights: Mapping[int, int], *, slo_ms: float, confidence: float
) -> tuple[float | None, bool]:
    """Return the highest rung that passes on the rounds so weighted (None: none passes) and
    whether it is only a lower bound (no rung above it was measured)."""
    found = sustainable_range(rungs, weights, slo_ms=slo_ms, confidence=confidence)
    if found is None:
        return None, False
    return found.value, not any(r.offered_rps > found.value for r in rungs)


def sustainable_range(
    rungs: Sequence[Rung],
    weights: Mapping[int, int],
    *,
    slo_ms: float,
    confidence: float,
    ceiling: float | None = None,
) -> Range | None:
    """Return the highest rung that passes on the rounds so weighted (None: none passes) and
    what the rate is known to lie between: that rung, and the next rung with answers on these
    rounds above it (failed or undecided: where the ladder's knowledge ends). With no such
    rung, ``ceiling`` (the target's closed-loop capacity) when it is higher, else the rung."""
    passing: list[float] = []
    measured: list[float] = []
    for rung in rungs:
        decision, _, answers, _, _ = decide(
            rung.rounds, weights, slo_ms=slo_ms, confidence=confidence
        )
        if decision == "pass":
            passing.append(rung.offered_rps)
        if answers:
            measured.append(rung.offered_rps)
    if not passing:
        return None
    best = max(passing)
    above = [rate for rate in measured if rate > best]
    high = min(above) if above else max(best, ceiling or best)
    return Range(best, best, high)


def rounds_of(rungs: Sequence[Rung], excluded: Collection[int]) -> list[int]:
    """Return the rounds whose answers count at some rung (valid, not flagged), ascending."""
    return sorted({r.round for rung in rungs for r in rung.rounds if counted(r, excluded)})


def weights_of(rounds: Sequence[int], draw: Mapping[int, int]) -> dict[int, int]:
    """Return each round's weight in a resample (rounds not drawn weigh 0)."""
    return {r: draw.get(r, 0) for r in rounds}


def sustainable_summary(
    rungs: Sequence[Rung],
    excluded: Collection[int],
    *,
    slo_ms: float,
    confidence: float,
    ceiling: float | None = None,
) -> Sustainable:
    """Return the sustainable rate of pooled rungs with the interval of resampling rounds, the
    ladder's resolution inside it (``sustainable_range``)."""
    rounds = rounds_of(rungs, excluded)

    def statistic(draw: Mapping[int, int]) -> Range | None:
        return sustainable_range(
            rungs, weights_of(rounds, draw), slo_ms=slo_ms, confidence=confidence, ceiling=ceiling
        )

    found = resampled_range(rounds, statistic)
    _, at_least = sustainable_at(
        rungs, dict.fromkeys(rounds, 1), slo_ms=slo_ms, confidence=confidence
    )
    return Sustainable(
        median=found.estimate,
        low=found.low,
        high=found.high,
        slo_ms=slo_ms,
        rounds=len(rounds),
        values={},
        at_least=at_least and found.estimate is not None,
    )


def curve(steps: Sequence[Step], pools: Pools, excluded: Collection[int]) -> list[CurvePoint]:
    """Return the latency curve: each rate's fit steps (send lag below a tenth of their p99,
    round not flagged) pooled; a rate with none is shown from all its steps, marked invalid."""
    by_rate: dict[float, list[Step]] = defaultdict(list)
    for step in steps:
        by_rate[step.offered_rps].append(step)
    points = []
    for rate, mine in sorted(by_rate.items()):
        fit = [s for s in mine if s.p99_fit and s.round not in excluded]
        used = fit or mine
        kept = {s.round for s in used}
        pool = Pool.of((pools[(rate, r)], 1) for r in kept if (rate, r) in pools)
        p99s = [s.p99_ms for s in used if s.p99_ms is not None]
        reason = next((s.invalid_reason for s in mine if not s.p99_fit and s.invalid_reason), None)
        points.append(
            CurvePoint(
                offered_rps=rate,
                achieved_rps=round(median([s.achieved_rps or 0.0 for s in used]), 1),
                p50_ms=pool.percentile(50),
                p99_ms=pool.percentile(99),
                p999_ms=pool.percentile(99.9),
                failures=sum(s.failures for s in used),
                valid=bool(fit),
                invalid_reason=None if fit else reason or "send lag above a tenth of the p99",
                rounds=len(used),
                spread_p99_ms=[min(p99s), max(p99s)] if p99s else [],
            )
        )
    return points
