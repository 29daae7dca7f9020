"""Every contrast of a run: ratios paired within each round, an interval, the word it supports.

For each pair of targets (loadtests/targets.py, ``Versus``, and the run's A/A control) and
each figure, the word (faster, slower, a tie, undecided) and the sentence come from a 95 %
interval alone (``loadtests.common.stats``):

- throughput and CPU per request: the ratio is taken within each round (both targets
  measured in the same round, each on a fresh process), flagged rounds and invalid figures
  are left out with the reason, and the median of the ratios gets a bootstrap interval;
- sustainable throughput, and p99 and p50 at the pair's rung: each target's rounds are
  pooled (``loadtests.bench.rungs``) and the ratio of the pooled figures gets the interval of
  resampling the rounds both measured, the same rounds for both sides (paired). A
  sustainable rate is known only to its ladder's resolution (between the rung that passed
  and the next one measured above it), so its ratio's interval holds that resolution too.

Runs made before the pooled ladder have no rungs: their sustainable and p99 ratios are taken
per round, as they were.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Literal

from loadtests.bench.ladder import PAIR_RUNG_SHARE
from loadtests.bench.pooling import (
    CONFIDENCE,
    Pool,
    Range,
    Resampled,
    resampled,
    resampled_range,
)
from loadtests.bench.rungs import (
    closed_loop_capacity,
    rounds_of,
    sustainable_range,
    weights_of,
)
from loadtests.common.runfiles import (
    AA_PAIR,
    VERDICT_FIGURES,
    Comparison,
    Pair,
    RoundFigures,
    TargetSummary,
)
from loadtests.common.stats import (
    MIN_ROUNDS,
    Interval,
    describe,
    interval,
    paired_ratios,
    verdict_word,
)

Pick = Callable[[RoundFigures], tuple[float | None, bool]]
Pools = Mapping[str, Mapping[tuple[float, int], Pool]]  # target -> (rate, round) -> latencies
POOLED: Literal["pooled"] = "pooled"
FIGURE_WORDS = {
    "throughput": "throughput",
    "cpu_per_request": "server CPU per request",
}


def figure_words(figure: str, slo_ms: float | None, at_rps: float | None) -> str:
    """Return how a sentence names a figure."""
    if figure == "sustainable":
        return (
            f"sustainable throughput (p99 within {slo_ms:g} ms)"
            if slo_ms
            else ("sustainable throughput")
        )
    if figure in ("p99", "p50"):
        return f"{figure} latency at {at_rps:g} req/s" if at_rps else f"{figure} latency"
    return FIGURE_WORDS[figure]


def _by_round(target: TargetSummary, pick: Pick) -> tuple[dict[int, float | None], dict[int, bool]]:
    values, valid = {}, {}
    for fig in target.rounds:
        values[fig.round], valid[fig.round] = pick(fig)
    return values, valid


def _one(
    pair: Pair,
    targets: Mapping[str, TargetSummary],
    figure: str,
    source: str,
    pick: Pick,
    excluded: set[int],
    *,
    higher_is_better: bool,
    at_rps: float | None = None,
) -> Comparison:
    num, den = targets[pair.numerator], targets[pair.denominator]
    a, a_valid = _by_round(num, pick)
    b, b_valid = _by_round(den, pick)
    valid = {r: a_valid.get(r, False) and b_valid.get(r, False) for r in set(a) | set(b)}
    paired = paired_ratios(a, b, excluded_rounds=excluded, valid=valid)
    iv = interval(paired.ratios)
    return _comparison(
        pair,
        num,
        den,
        figure,
        source,
        iv,
        higher_is_better=higher_is_better,
        at_rps=at_rps,
        ratios={r: round(v, 4) for r, v in zip(paired.rounds, paired.ratios, strict=True)},
        left_out={lo.round: lo.reason for lo in paired.left_out},
    )


def _comparison(
    pair: Pair,
    num: TargetSummary,
    den: TargetSummary,
    figure: str,
    source: str,
    iv: Interval,
    *,
    higher_is_better: bool,
    at_rps: float | None,
    ratios: dict[int, float],
    left_out: dict[int, str],
) -> Comparison:
    verdict = verdict_word(iv, higher_is_better=higher_is_better)
    slo_ms = num.sustainable_rps.slo_ms if num.sustainable_rps else None
    return Comparison(
        pair=pair.name,
        numerator=pair.numerator,
        denominator=pair.denominator,
        figure=figure,  # type: ignore[arg-type]
        source=source,
        at_rps=at_rps,
        higher_is_better=higher_is_better,
        ratios=ratios,
        rounds=iv.n,
        left_out=left_out,
        median=iv.median,
        low=iv.low,
        high=iv.high,
        method=iv.method,
        word=verdict.word,
        rounds_needed=verdict.rounds_needed,
        sentence=describe(
            num.label, den.label, iv, verdict, figure=figure_words(figure, slo_ms, at_rps)
        ),
    )


def _pooled(
    pair: Pair,
    num: TargetSummary,
    den: TargetSummary,
    figure: str,
    source: str,
    rounds: list[int],
    found: Resampled,
    excluded: set[int],
    *,
    higher_is_better: bool,
    at_rps: float | None = None,
) -> Comparison:
    """Return a ratio of pooled figures with the interval of resampling the shared rounds."""
    if len(rounds) < MIN_ROUNDS:  # as for per-round ratios: fewer rounds give no interval
        iv = Interval(found.estimate, None, None, len(rounds), "too few")
    else:
        iv = Interval(found.estimate, found.low, found.high, found.rounds, POOLED)
    measured = {f.round for f in num.rounds} | {f.round for f in den.rounds}
    left_out = {
        r: "flagged" if r in excluded else "not measured validly by both"
        for r in sorted(measured - set(rounds))
    }
    return _comparison(
        pair,
        num,
        den,
        figure,
        source,
        iv,
        higher_is_better=higher_is_better,
        at_rps=at_rps,
        ratios={},
        left_out=left_out,
    )


def pooled_sustainable(
    pair: Pair, num: TargetSummary, den: TargetSummary, excluded: set[int], confidence: float
) -> Comparison:
    """Compare the highest rungs LoadGen's rule passes on each side's pooled rounds. Each side
    is known only between its passing rung and the next rung measured above it, so each
    resample's ratio is a range (lowest: num's rung over den's next; highest: num's next over
    den's rung) and the interval holds both sides' ladder resolution."""
    slo = num.sustainable_rps.slo_ms if num.sustainable_rps else 25.0
    rounds = sorted(set(rounds_of(num.rungs, excluded)) & set(rounds_of(den.rungs, excluded)))
    ceilings = closed_loop_capacity(num.rounds), closed_loop_capacity(den.rounds)

    def statistic(draw: Mapping[int, int]) -> Range | None:
        weights = weights_of(rounds, draw)
        a, b = (
            sustainable_range(t.rungs, weights, slo_ms=slo, confidence=confidence, ceiling=c)
            for t, c in zip((num, den), ceilings, strict=True)
        )
        if a is None or b is None:
            return None
        return Range(a.low / b.high, a.value / b.value, a.high / b.low)

    source = "open-loop rungs, every round pooled (LoadGen's early-stopping rule)"
    found = resampled_range(rounds, statistic)
    return _pooled(
        pair, num, den, "sustainable", source, rounds, found, excluded, higher_is_better=True
    )


def pooled_percentile(
    pair: Pair,
    num: TargetSummary,
    den: TargetSummary,
    pools: Pools,
    rate: float,
    pct: float,
    excluded: set[int],
) -> Comparison:
    """Compare a percentile of each side's pooled latencies at the pair's fixed rung."""

    def fit(target: TargetSummary) -> set[int]:
        rung = next((r for r in target.rungs if r.offered_rps == rate), None)
        return {r.round for r in rung.rounds if r.valid} - excluded if rung else set()

    mine, theirs = pools.get(num.name, {}), pools.get(den.name, {})
    rounds = sorted(r for r in fit(num) & fit(den) if (rate, r) in mine and (rate, r) in theirs)

    def statistic(draw: Mapping[int, int]) -> float | None:
        a = Pool.of((mine[(rate, r)], w) for r, w in draw.items()).percentile(pct)
        b = Pool.of((theirs[(rate, r)], w) for r, w in draw.items()).percentile(pct)
        return a / b if a and b else None

    figure = "p99" if pct == 99 else "p50"
    source = "open-loop rung fixed after round 1, every round pooled"
    found = resampled(rounds, statistic)
    return _pooled(
        pair, num, den, figure, source, rounds, found, excluded, higher_is_better=False, at_rps=rate
    )


def throughput_source(*targets: TargetSummary) -> tuple[str, Pick]:
    """Use wrk's peak (one concurrency for every target) whenever wrk measured the targets;
    Locust's only when it did not. The rule was "Locust when it was valid in every round": on
    this VM that held in one default run of 23 for the default pair, and switched its ratio
    from wrk's 1.17-1.24 to Locust's 1.41 (each target at its own peak level), so a run's
    tool, not the servers, moved the figure. Every ranking of throughput in the report uses
    the same rule over all the run's targets."""
    rounds = [f for target in targets for f in target.rounds]
    if rounds and all(f.wrk_rps is None for f in rounds):
        return "Locust (closed loop, peak level; wrk was not run)", lambda f: (
            f.locust_rps,
            f.locust_valid,
        )
    return "wrk (closed loop, 32 connections, every target)", lambda f: (f.wrk_rps, f.wrk_valid)


def common_rate(num: TargetSummary, den: TargetSummary) -> float | None:
    """Return the highest rate at most PAIR_RUNG_SHARE of the slower one's capacity that
    both served validly in at least MIN_ROUNDS of the same rounds; the rounds where either
    step was invalid are left out of its ratio."""
    capacities = [c for c in (closed_loop_capacity(t.rounds) for t in (num, den)) if c]
    if len(capacities) < 2:
        return None
    limit = PAIR_RUNG_SHARE * min(capacities)
    theirs = {f.round: f.p99_ms for f in den.rounds}
    counts: Counter[str] = Counter()
    for fig in num.rounds:
        counts.update(rate for rate in fig.p99_ms if rate in theirs.get(fig.round, {}))
    rates = [float(rate) for rate, n in counts.items() if n >= MIN_ROUNDS and float(rate) <= limit]
    return max(rates, default=None)


def compare(
    targets: Mapping[str, TargetSummary],
    pairs: list[Pair],
    excluded: set[int],
    *,
    pools: Pools | None = None,
    pair_rungs: Mapping[str, float] | None = None,
    confidence: float = CONFIDENCE,
) -> list[Comparison]:
    """Return every comparison of the run's pairs, for each figure that was measured."""
    out: list[Comparison] = []
    for pair in pairs:
        num, den = targets.get(pair.numerator), targets.get(pair.denominator)
        if num is None or den is None or not num.rounds or not den.rounds:
            continue
        source, pick = throughput_source(num, den)
        out.append(_one(pair, targets, "throughput", source, pick, excluded, higher_is_better=True))
        if num.rungs and den.rungs:
            out.append(pooled_sustainable(pair, num, den, excluded, confidence))
        else:
            out.append(
                _one(
                    pair,
                    targets,
                    "sustainable",
                    "open-loop ladder (Poisson arrivals)",
                    lambda f: (f.sustainable_rps, f.sustainable_valid),
                    excluded,
                    higher_is_better=True,
                )
            )
        rung = (pair_rungs or {}).get(pair.name)
        if rung is not None and pools is not None:
            for pct in (99.0, 50.0):
                out.append(pooled_percentile(pair, num, den, pools, rung, pct, excluded))
        elif (rate := common_rate(num, den)) is not None and not num.rungs:
            key = f"{rate:g}"
            out.append(
                _one(
                    pair,
                    targets,
                    "p99",
                    "open-loop ladder (Poisson arrivals)",
                    lambda f, key=key: (f.p99_ms.get(key), key in f.p99_ms),  # type: ignore[misc]
                    excluded,
                    higher_is_better=False,
                    at_rps=rate,
                )
            )
        out.append(
            _one(
                pair,
                targets,
                "cpu_per_request",
                "wrk phase: server CPU (user + kernel) / answered request",
                lambda f: (f.cpu_us_per_request, f.wrk_valid),
                excluded,
                higher_is_better=False,
            )
        )
    return out


def aa_warnings(comparisons: list[Comparison]) -> list[str]:
    """Return the run's warning when its A/A control came out faster or slower on a figure the
    verdict states: the method called a target different from itself, so the run's intervals
    are too narrow. (On a figure only shown, the A/A line in the tables says it.)"""
    return [
        f"the A/A control came out {c.word} ({c.median:.2f}x, 95 % CI {c.low:.2f}-{c.high:.2f}) "
        f"on {c.figure}: the method called a target different from itself, so this run's "
        "intervals are too narrow"
        for c in comparisons
        if c.pair == AA_PAIR
        and c.figure in VERDICT_FIGURES
        and c.word in ("faster", "slower")
        and c.median is not None
        and c.low is not None
        and c.high is not None
    ]
