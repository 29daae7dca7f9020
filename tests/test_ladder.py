"""The sustainable-throughput search, on fake measure functions (no network)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loadtests.bench.config import RunSettings
from loadtests.bench.ladder import borderline, decide, default_ladder, judge, lowest_rung, search
from loadtests.loadgen.openloop import StepResult

LADDER = [250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0, 6000.0, 8000.0]


def step(
    rate: float,
    p99: float | None,
    *,
    failed: int = 0,
    dropped: int = 0,
    valid: bool = True,
    cpu_pct: float = 10.0,
    lag_ms: float = 0.1,
) -> StepResult:
    """Return a StepResult as run_step would for this rate, with the given outcome."""
    sent = int(rate * 5)
    ok = sent - failed - dropped
    return StepResult(
        offered_rps=rate,
        duration_s=5.0,
        sent=sent,
        ok=ok,
        failed=failed,
        dropped=dropped,
        achieved_rps=ok / 5.0,
        p50_ms=None if p99 is None else p99 / 3,
        p90_ms=None if p99 is None else p99 / 2,
        p99_ms=p99,
        p999_ms=None if p99 is None else p99 * 1.5,
        max_ms=None if p99 is None else p99 * 2,
        service_p50_ms=None,
        service_p99_ms=None,
        send_lag_p99_ms=lag_ms,
        wait_p99_ms=lag_ms,
        client_cpu_us_per_request=20.0,
        client_cpu_percent=cpu_pct,
        connections_opened=1,
        valid=valid,
    )


def knee_at(knee: float, calls: list[float] | None = None) -> Callable[[float], StepResult]:
    """Return a measure whose p99 is 5 ms below the knee and 60 ms above it."""

    def measure(rate: float) -> StepResult:
        if calls is not None:
            calls.append(rate)
        return step(rate, 5.0 if rate <= knee else 60.0)

    return measure


@pytest.mark.parametrize("knee", [700.0, 2345.0, 5100.0])
def test_search_finds_a_known_knee_within_tolerance(knee: float) -> None:
    found = search(knee_at(knee), LADDER, slo_ms=25.0, tolerance=0.05)
    assert found.sustainable_rps is not None
    assert found.bracket is not None
    lo, hi = found.bracket
    assert lo <= knee < hi
    assert hi - lo <= 0.05 * lo
    assert found.sustainable_rps == lo
    assert not found.at_least
    assert not found.undecided


def test_climb_goes_on_past_a_slow_rung_but_stops_at_ten_times_the_slo() -> None:
    calls: list[float] = []

    def measure(rate: float) -> StepResult:
        calls.append(rate)
        p99 = {1000.0: 30.0, 1500.0: 100.0, 2000.0: 300.0}.get(rate, 5.0 if rate < 1000 else 900.0)
        return step(rate, p99)

    found = search(measure, LADDER, slo_ms=25.0)
    ladder_calls = calls[: calls.index(2000.0) + 1]
    assert ladder_calls == [250.0, 500.0, 1000.0, 1500.0, 2000.0]  # 300 ms > 10 x 25 ms
    assert all(rate < 1000.0 for rate in calls[len(ladder_calls) :])  # bisect 500-1000
    assert found.sustainable_rps is not None
    assert 500.0 <= found.sustainable_rps < 1000.0


def test_a_failed_request_disqualifies_a_rate_and_stops_the_climb() -> None:
    calls: list[float] = []

    def measure(rate: float) -> StepResult:
        calls.append(rate)
        return step(rate, 2.0, failed=1 if rate >= 1500.0 else 0)

    found = search(measure, LADDER, slo_ms=25.0)
    assert 2000.0 not in calls  # the climb stopped at the first failure
    assert judge(step(1500.0, 2.0, failed=1), 25.0)[0] == "fail"
    assert found.bracket is not None
    assert found.bracket[1] <= 1500.0
    assert found.sustainable_rps is not None
    assert 1000.0 <= found.sustainable_rps < 1500.0


def test_a_dropped_request_disqualifies_a_rate() -> None:
    assert judge(step(1000.0, 1.0, dropped=1), 25.0)[0] == "fail"
    assert judge(step(1000.0, 25.0), 25.0)[0] == "pass"  # p99 <= slo passes
    assert judge(step(1000.0, 25.001), 25.0)[0] == "fail"


def test_an_invalid_step_does_not_decide() -> None:
    # The generator was saturated at 3000 req/s (it would look failing): unknown, and the
    # search goes on; the real knee (5000) is still found.
    def measure(rate: float) -> StepResult:
        if rate == 3000.0:
            return step(rate, 80.0, valid=False, cpu_pct=95.0)
        return step(rate, 5.0 if rate <= 5000.0 else 60.0)

    found = search(measure, LADDER, slo_ms=25.0)
    assert found.undecided
    assert any("3000 req/s: unknown" in note for note in found.notes)
    assert [s.verdict for s in found.steps if s.result.offered_rps == 3000.0] == ["unknown"]
    assert found.bracket is not None
    assert found.bracket[0] <= 5000.0 < found.bracket[1]


def test_a_failure_the_lag_cannot_explain_decides() -> None:
    """A lagging generator with CPU to spare cannot vouch for a pass, but it cannot cause a
    drop or a p99 far above the bound either: those are real failures."""
    assert judge(step(3000.0, 5.0, valid=False, lag_ms=2.0), 25.0)[0] == "unknown"
    assert judge(step(3000.0, 26.0, valid=False, lag_ms=2.0), 25.0)[0] == "unknown"
    assert judge(step(3000.0, 80.0, valid=False, lag_ms=2.0), 25.0)[0] == "fail"
    assert judge(step(3000.0, 5.0, valid=False, lag_ms=2.0, dropped=3), 25.0)[0] == "fail"
    # A saturated generator can cause all of it: unknown.
    assert judge(step(3000.0, 80.0, valid=False, cpu_pct=95.0), 25.0)[0] == "unknown"


def test_an_unverified_bisection_step_counts_as_not_verified() -> None:
    """Every bisection step passes but the generator cannot vouch for it: the sustainable
    rate stays the highest verified pass, and the bracket closes on it from above."""

    def measure(rate: float) -> StepResult:
        if rate not in LADDER:
            return step(rate, 5.0, valid=False, lag_ms=2.0)
        return step(rate, 5.0 if rate <= 2500.0 else 60.0)

    found = search(measure, LADDER, slo_ms=25.0)
    assert found.sustainable_rps == 2000.0  # verified by a valid step
    assert found.bracket is not None
    assert found.bracket[0] == 2000.0
    assert found.bracket[1] - 2000.0 <= 0.05 * 2000.0
    assert any("counted as not verified" in note for note in found.notes)


def test_an_unknown_rung_above_the_last_pass_bounds_the_bracket() -> None:
    """The climb stops at a saturated-generator rung: it is not a failure, but not verified
    either, so the search bisects below it instead of claiming 'at least'."""

    def measure(rate: float) -> StepResult:
        if rate >= 3000.0:
            return step(rate, 300.0, valid=False, cpu_pct=95.0)
        return step(rate, 5.0)

    found = search(measure, LADDER, slo_ms=25.0)
    assert not found.at_least
    assert found.sustainable_rps is not None
    assert 2000.0 <= found.sustainable_rps < 3000.0


def test_top_rung_passing_reports_at_least() -> None:
    found = search(knee_at(1e9), LADDER, slo_ms=25.0)
    assert found.sustainable_rps == 8000.0
    assert found.at_least
    assert any("at least 8000" in note for note in found.notes)


def test_first_rung_failing_gives_none() -> None:
    found = search(knee_at(10.0), LADDER, slo_ms=25.0)
    assert found.sustainable_rps is None
    # p99 60 ms stays under 10 x SLO: the curve is climbed, but nothing is bisected.
    assert [s.phase for s in found.steps] == ["ladder"] * len(LADDER)
    found = search(lambda rate: step(rate, 1.0, dropped=3), LADDER)
    assert found.sustainable_rps is None
    assert [s.result.offered_rps for s in found.steps] == [250.0]


def test_curve_lists_every_step_by_rate() -> None:
    found = search(knee_at(2345.0), LADDER, slo_ms=25.0)
    rates = [row["offered_rps"] for row in found.curve()]
    assert rates == sorted(rates)
    assert len(rates) == len(found.steps)
    assert {"offered_rps", "achieved_rps", "p50_ms", "p99_ms", "p999_ms", "valid"} <= set(
        found.curve()[0]
    )


def test_default_ladder_is_absolute_and_ends_at_the_fastest_peak() -> None:
    assert default_ladder(9000, lowest=250.0) == [
        250.0,
        500.0,
        1000.0,
        1500.0,
        2000.0,
        3000.0,
        4000.0,
        6000.0,
        8000.0,
        12000.0,
    ]
    assert default_ladder(9000)[0] == 500.0
    assert default_ladder(3000)[-1] == 3000.0
    assert default_ladder(100) == [500.0]
    assert default_ladder(100, lowest=250.0) == [250.0]
    assert default_ladder(8000, lowest=1000)[0] == 1000.0


def test_the_ladder_starts_lower_only_for_a_slow_target() -> None:
    assert lowest_rung(999.0) == 250.0
    assert lowest_rung(None) == 250.0
    assert lowest_rung(1000.0) == 500.0


def test_a_slow_rung_runs_long_enough_for_its_p99() -> None:
    """Every step offers at least step_min_requests; fast rungs keep --step."""
    settings = RunSettings(step_s=0.8, step_min_requests=800)
    assert settings.step_s_at(250.0) == 3.2
    assert settings.step_s_at(500.0) == 1.6
    assert settings.step_s_at(4000.0) == 0.8
    assert RunSettings(step_s=0.4, step_min_requests=0).step_s_at(500.0) == 0.4


def test_a_hiccup_below_the_knee_does_not_set_the_rate() -> None:
    """A rung fails once (a pause on the server), higher rungs pass: the highest pass counts."""

    def measure(rate: float) -> StepResult:
        if rate == 2000.0:
            return step(rate, 40.0)  # a transient: p99 over the bound, nothing failed
        return step(rate, 5.0 if rate <= 5000.0 else 60.0)

    found = search(measure, LADDER, slo_ms=25.0)
    assert found.sustainable_rps is not None
    assert 5000.0 <= found.sustainable_rps < 6000.0
    assert any("non-monotone" in note for note in found.notes)


def test_a_borderline_step_is_measured_again_longer_and_the_longer_one_decides() -> None:
    """p99 near the bound with no queue (p50 low) and nothing failed: measured again."""
    calls: list[tuple[float, bool]] = []

    def run(rate: float, longer: bool) -> StepResult:
        calls.append((rate, longer))
        first = step(rate, 60.0)  # one stall: p99 2.4x the bound
        first.p50_ms = 0.8
        return step(rate, 4.0) if longer else first

    decided = decide(run, 3000.0, 25.0)
    assert calls == [(3000.0, False), (3000.0, True)]
    assert decided.p99_ms == 4.0
    assert judge(decided, 25.0)[0] == "pass"


@pytest.mark.parametrize(
    ("p50", "p99", "failed", "valid", "again"),
    [
        (0.8, 60.0, 0, True, True),  # a stall in a queue-free step
        (3.0, 20.0, 0, True, True),  # a marginal pass
        (0.8, 5.0, 0, True, False),  # clearly within
        (0.8, 150.0, 0, True, False),  # far beyond: not luck
        (30.0, 60.0, 0, True, False),  # a queue: the median is over the bound
        (0.8, 60.0, 3, True, False),  # failures decide by themselves
        (0.8, 60.0, 0, False, False),  # the generator could not vouch for it
    ],
)
def test_which_steps_are_borderline(
    p50: float, p99: float, failed: int, valid: bool, again: bool
) -> None:
    result = step(2000.0, p99, failed=failed, valid=valid)
    result.p50_ms = p50
    assert borderline(result, 25.0) is again
    calls: list[bool] = []

    def run(rate: float, longer: bool) -> StepResult:
        calls.append(longer)
        return result

    decide(run, 2000.0, 25.0)
    assert calls == ([False, True] if again else [False])
