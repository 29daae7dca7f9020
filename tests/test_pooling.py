"""Pooled decisions: LoadGen's early-stopping rule, pooled histograms, resampled rounds, and a
target's rungs and sustainable rate (pure: no network)."""

from __future__ import annotations

import random
from collections.abc import Mapping

import numpy as np
import pytest

from loadtests.bench.pooling import (
    EMPTY,
    Pool,
    Range,
    accepts,
    conservative_rank,
    expanded_tail,
    judge,
    min_passing,
    needed,
    rejects,
    resampled,
    resampled_range,
    resamples,
)
from loadtests.bench.rungs import (
    curve,
    pooled_rungs,
    sustainable_at,
    sustainable_range,
    sustainable_summary,
)
from loadtests.common import hdr as _hdr
from loadtests.common.runfiles import Step


def test_the_rule_matches_loadgens_own_figures() -> None:
    """LoadGen (early_stopping.cc): with no answer over the bound a p99 claim at 99 %
    confidence needs 459 answers (0.99^459 < 0.01 <= 0.99^458); every answer over needs more."""
    assert min_passing(0) == 459
    assert 0.99**459 < 0.01 <= 0.99**458
    assert needed(0) == 459
    assert needed(1) > needed(0) + 1  # one answer over costs far more than one answer
    assert all(needed(t + 1) > needed(t) for t in range(30))
    assert not accepts(458, 0)
    assert accepts(459, 0)
    assert not accepts(needed(1) - 1, 1)
    assert accepts(needed(1), 1)
    # Other percentiles and confidences, from the same closed form: ceil(log(1-c)/log(p)).
    assert min_passing(0, 0.9, 0.95) == 29  # 0.9^29 = 0.047 < 0.05 <= 0.9^28 = 0.052
    with pytest.raises(ValueError, match="within"):
        min_passing(0, 0.99, 1.0)


def test_a_rung_passes_fails_or_is_undecided_never_passed_on_too_few() -> None:
    assert judge(459, 0, 0, slo_ms=25).decision == "pass"
    small = judge(400, 0, 0, slo_ms=25)
    assert small.decision == "undecided"
    assert small.more_needed == 59
    assert "59 more answers" in small.reason
    assert judge(10_000, 200, 0, slo_ms=25).decision == "fail"  # 2 %: over at 99 % confidence
    assert rejects(10_000, 200)
    assert not rejects(10_000, 100)
    assert judge(10_000, 100, 0, slo_ms=25).decision == "undecided"  # 1 %: cannot tell
    assert judge(100_000, 0, 1, slo_ms=25).decision == "fail"  # a failure fails outright
    assert judge(0, 0, 0, slo_ms=25).decision == "undecided"


def test_the_conservative_estimate_discards_only_what_the_rule_allows() -> None:
    assert conservative_rank(needed(1) - 1) is None  # not even the slowest can be vouched for
    assert conservative_rank(needed(1)) == 1
    rank = conservative_rank(9600)
    assert rank is not None
    assert needed(rank) <= 9600 < needed(rank + 1)
    assert rank < 96  # conservative: fewer discarded than the raw p99 would


def histogram(latencies_us: list[int]) -> Pool:
    """Return the pool of a real HdrHistogram holding the latencies."""
    h = _hdr.new_histogram()
    for v in latencies_us:
        h.record_value(v)
    return Pool.from_counts(*_hdr.distribution(h))


def test_pooling_two_rounds_equals_one_histogram_of_both_rounds() -> None:
    rng = random.Random(7)
    one = [int(rng.lognormvariate(7, 0.8)) + 1 for _ in range(3000)]
    two = [int(rng.lognormvariate(7.3, 0.9)) + 1 for _ in range(2000)]
    pooled = Pool.of([(histogram(one), 1), (histogram(two), 1)])
    both = _hdr.new_histogram()
    for v in one + two:
        both.record_value(v)
    assert pooled.total == both.get_total_count() == 5000
    for pct in (50, 90, 99, 99.9):
        assert pooled.percentile(pct) == both.get_value_at_percentile(pct) / 1000
    # A round resampled twice counts twice; an empty pool has no percentile.
    twice = Pool.of([(histogram(one), 2)])
    assert twice.total == 6000
    assert twice.percentile(99) == histogram(one).percentile(99)
    assert EMPTY.percentile(99) is None
    assert Pool.of([]).total == 0


def test_resampling_rounds_is_the_exact_bootstrap() -> None:
    draws = resamples(4)
    assert len(draws) == 35  # every multiset of 4 from 4
    assert sum(p for _, p in draws) == pytest.approx(1.0)
    assert all(sum(counts) == 4 for counts, _ in draws)
    values = {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}

    def mean(draw: dict[int, int]) -> float:
        return sum(values[r] * w for r, w in draw.items()) / sum(draw.values())

    found = resampled([1, 2, 3, 4], mean)
    assert found.estimate == 2.5
    assert found.low is not None
    assert found.high is not None
    assert 1.0 <= found.low < 2.5 < found.high <= 4.0
    same = resampled([1, 2, 3], lambda d: 1.0)
    assert (same.low, same.high) == (1.0, 1.0)
    # Undefined in too many resamples: no interval.
    assert resampled([1, 2, 3], lambda d: None if d.get(1) else 1.0).low is None
    with pytest.raises(ValueError, match="exact resampling"):
        resamples(9)


def test_few_rounds_read_the_interval_at_expanded_percentiles() -> None:
    """Hesterberg's expanded percentile interval: Phi(-sqrt(n/(n-1)) t(n-1)) in each tail,
    far below 2.5 % for a handful of rounds and approaching it for many."""
    assert expanded_tail(5) == pytest.approx(0.000954, rel=1e-3)
    assert expanded_tail(4) == pytest.approx(0.000119, rel=1e-2)
    assert expanded_tail(3) < expanded_tail(4) < expanded_tail(5) < expanded_tail(10) < 0.025
    assert expanded_tail(10_000) == pytest.approx(0.025, abs=1e-4)
    for bad in ((1, 0.95), (5, 1.0), (5, 0.0)):
        with pytest.raises(ValueError, match="expanded percentiles"):
            expanded_tail(*bad)
    # Five rounds of a mean: the ends lie beyond the plain 2.5th/97.5th percentiles (4:1
    # mixtures of the outer rounds, 1.2 and 4.8, are each 0.16 % of the resamples).
    values = {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0, 5: 5.0}

    def mean(draw: Mapping[int, int]) -> float:
        return sum(values[r] * w for r, w in draw.items()) / sum(draw.values())

    found = resampled(list(values), mean)
    assert (found.low, found.high) == (pytest.approx(1.2), pytest.approx(4.8))


def step(rnd: int, rate: float, sent: int, over: int, *, valid: bool = True) -> Step:
    """Return one ladder step's record."""
    return Step(
        round=rnd,
        offered_rps=rate,
        sent=sent,
        ok=sent,
        failed=0,
        dropped=0,
        passed=over * 100 < sent,
        over=over,
        valid=valid,
        p99_ms=5.0,
    )


def rungs_of(steps: list[Step], excluded: set[int] | None = None):  # type: ignore[no-untyped-def]
    pools = {
        (s.offered_rps, s.round): histogram([1000] * (s.sent - s.over) + [30000] * s.over)
        for s in steps
    }
    return pooled_rungs(steps, pools, {}, excluded or set(), slo_ms=25.0)


def test_pooled_rounds_decide_what_one_round_cannot() -> None:
    """400 answers with none over cannot pass alone (459 needed); four such rounds pass."""
    steps = [step(r, 1000.0, 400, 0) for r in (1, 2, 3, 4)]
    alone = rungs_of(steps[:1])[0]
    assert alone.decision == "undecided"
    rung = rungs_of(steps)[0]
    assert (rung.decision, rung.answers, rung.pooled_rounds) == ("pass", 1600, [1, 2, 3, 4])
    assert rung.p99_ms == 1.0
    assert rung.p99_early_ms == 1.0
    # An invalid step and a flagged round are left out of the pool, and shown.
    steps[1] = step(2, 1000.0, 400, 0, valid=False)
    rung = rungs_of(steps, excluded={3})[0]
    assert rung.pooled_rounds == [1, 4]
    assert [r.valid for r in rung.rounds][1] is False


def test_sustainable_is_the_highest_passing_rung_with_a_resampled_interval() -> None:
    steps = []
    for rnd in (1, 2, 3, 4):
        steps += [step(rnd, 1000.0, 1000, 0), step(rnd, 1100.0, 1100, 2)]
        steps += [step(rnd, 1210.0, 1210, 40 if rnd != 2 else 0)]
    rungs = rungs_of(steps)
    assert [r.decision for r in rungs] == ["pass", "pass", "fail"]
    weights = dict.fromkeys((1, 2, 3, 4), 1)
    assert sustainable_at(rungs, weights, slo_ms=25.0, confidence=0.99) == (1100.0, False)
    found = sustainable_summary(rungs, set(), slo_ms=25.0, confidence=0.99)
    assert found.median == 1100.0
    assert found.rounds == 4
    assert found.low is not None
    assert found.high is not None
    # The rate lies below the next rung measured (1,210 failed): the interval reaches it.
    assert found.low <= 1100.0 < found.high == 1210.0
    assert not found.at_least
    # Nothing above the best rung was measured: only a lower bound, whose interval reaches the
    # closed-loop capacity given as the ceiling, and no further than the rung without one.
    top = rungs_of([s for s in steps if s.offered_rps < 1200])
    assert sustainable_summary(top, set(), slo_ms=25.0, confidence=0.99).at_least
    capped = sustainable_summary(top, set(), slo_ms=25.0, confidence=0.99, ceiling=1500.0)
    assert (capped.median, capped.high) == (1100.0, 1500.0)
    assert sustainable_summary(top, set(), slo_ms=25.0, confidence=0.99).high == 1100.0


def test_the_range_ends_at_the_next_rung_with_answers_in_the_resample() -> None:
    """A rung above measured only in a round the resample left out is no bound there."""
    steps = [step(r, 1000.0, 1000, 0) for r in (1, 2, 3)]
    steps += [step(1, 1100.0, 1100, 300), step(1, 1300.0, 1300, 600)]
    steps += [step(r, 1300.0, 1300, 600) for r in (2, 3)]
    rungs = rungs_of(steps)
    every = dict.fromkeys((1, 2, 3), 1)
    assert sustainable_range(rungs, every, slo_ms=25.0, confidence=0.99) == Range(
        1000.0, 1000.0, 1100.0
    )
    without_first = {1: 0, 2: 2, 3: 1}
    assert sustainable_range(rungs, without_first, slo_ms=25.0, confidence=0.99) == Range(
        1000.0, 1000.0, 1300.0
    )
    nothing_passes = {1: 0, 2: 0, 3: 0}
    assert sustainable_range(rungs, nothing_passes, slo_ms=25.0, confidence=0.99) is None


def test_a_range_statistic_takes_its_ends_from_the_tails() -> None:
    """Constant ranges give exactly their ends; a point statistic gives resampled's interval."""
    found = resampled_range([1, 2, 3], lambda draw: Range(0.9, 1.0, 1.2))
    assert (found.estimate, found.low, found.high) == (1.0, 0.9, 1.2)
    values = {1: 1.0, 2: 2.0, 3: 4.0}

    def mean(draw: Mapping[int, int]) -> float:
        return sum(values[r] * w for r, w in draw.items()) / sum(draw.values())

    point = resampled([1, 2, 3], mean)
    as_range = resampled_range([1, 2, 3], lambda d: Range(mean(d), mean(d), mean(d)))
    assert (point.low, point.high) == (as_range.low, as_range.high)


def test_the_curve_pools_fit_steps_and_greys_a_rate_without_one() -> None:
    steps = [step(r, 1000.0, 1000, 0) for r in (1, 2)]
    steps.append(step(1, 2000.0, 2000, 0).model_copy(update={"p99_fit": False}))
    pools = {(s.offered_rps, s.round): histogram([1000] * s.sent) for s in steps}
    points = curve(steps, pools, set())
    assert [(p.offered_rps, p.rounds, p.valid) for p in points] == [
        (1000.0, 2, True),
        (2000.0, 1, False),
    ]
    assert points[0].p99_ms == 1.0
    assert np.isclose(points[0].achieved_rps or 0, 0.0)
