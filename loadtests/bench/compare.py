"""Every contrast of a run: ratios paired within each round, an interval, the word it supports.

For each pair of targets (loadtests/targets.py, ``Versus``) and each figure, the ratio is
taken within each round (both targets measured minutes apart, under the same machine
state), flagged rounds and invalid figures are left out with the reason, and the median
gets a 95 % bootstrap interval (``loadtests.common.stats``). The word (faster, slower, a
tie, undecided) and the sentence come from the interval alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from statistics import median

from loadtests.common.runfiles import Comparison, Pair, RoundFigures, TargetSummary
from loadtests.common.stats import MIN_ROUNDS, describe, interval, paired_ratios, verdict_word

# Latency is compared at a common ladder rate of at most half the slower target's
# closed-loop peak, before a queue forms (the budget: below 60 % of capacity). The
# peak (median over rounds) moves less from run to run than the sustainable rate it
# replaced, but still by several %, so a slower run can land on the rung below: compare a
# pair's p99 across runs only at the same rate (`make stability` shows the others missing).
COMMON_RATE_SHARE = 0.5

Pick = Callable[[RoundFigures], tuple[float | None, bool]]


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
    verdict = verdict_word(iv, higher_is_better=higher_is_better)
    words = {
        "throughput": "throughput",
        "sustainable": f"sustainable throughput (p99 within {num.sustainable_rps.slo_ms:g} ms)"
        if num.sustainable_rps
        else "sustainable throughput",
        "p99": f"p99 latency at {at_rps:g} req/s" if at_rps else "p99 latency",
        "cpu_per_request": "server CPU per request",
    }
    return Comparison(
        pair=pair.name,
        numerator=pair.numerator,
        denominator=pair.denominator,
        figure=figure,  # type: ignore[arg-type]
        source=source,
        at_rps=at_rps,
        higher_is_better=higher_is_better,
        ratios={r: round(v, 4) for r, v in zip(paired.rounds, paired.ratios, strict=True)},
        left_out={lo.round: lo.reason for lo in paired.left_out},
        median=iv.median,
        low=iv.low,
        high=iv.high,
        method=iv.method,
        word=verdict.word,
        rounds_needed=verdict.rounds_needed,
        sentence=describe(num.label, den.label, iv, verdict, figure=words[figure]),
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


def capacity(target: TargetSummary) -> float | None:
    """Return a target's closed-loop capacity: the median of its valid wrk peaks over the
    rounds (else of Locust's); None when no round has one."""
    for rps, ok in (("wrk_rps", "wrk_valid"), ("locust_rps", "locust_valid")):
        values = [getattr(f, rps) for f in target.rounds if getattr(f, ok) and getattr(f, rps)]
        if values:
            return float(median(values))
    return None


def common_rate(num: TargetSummary, den: TargetSummary) -> float | None:
    """Return the highest rate at most COMMON_RATE_SHARE of the slower one's capacity that
    both served validly in at least MIN_ROUNDS of the same rounds; the rounds where either
    step was invalid are left out of its ratio."""
    capacities = [c for c in (capacity(num), capacity(den)) if c]
    if len(capacities) < 2:
        return None
    limit = COMMON_RATE_SHARE * min(capacities)
    theirs = {f.round: f.p99_ms for f in den.rounds}
    counts: Counter[str] = Counter()
    for fig in num.rounds:
        counts.update(rate for rate in fig.p99_ms if rate in theirs.get(fig.round, {}))
    rates = [float(rate) for rate, n in counts.items() if n >= MIN_ROUNDS and float(rate) <= limit]
    return max(rates, default=None)


def compare(
    targets: Mapping[str, TargetSummary], pairs: list[Pair], excluded: set[int]
) -> list[Comparison]:
    """Return every comparison of the run's pairs, for each figure that was measured."""
    out: list[Comparison] = []
    for pair in pairs:
        num, den = targets.get(pair.numerator), targets.get(pair.denominator)
        if num is None or den is None or not num.rounds or not den.rounds:
            continue
        source, pick = throughput_source(num, den)
        out.append(_one(pair, targets, "throughput", source, pick, excluded, higher_is_better=True))
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
        rate = common_rate(num, den)
        if rate is not None:
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
                "wrk phase: server CPU / answered req/s",
                lambda f: (f.cpu_us_per_request, f.wrk_valid),
                excluded,
                higher_is_better=False,
            )
        )
    return out
