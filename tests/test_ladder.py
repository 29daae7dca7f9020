"""Where the ladder goes: round 1's climb, the knee's grid and window, the fixed rungs (no
network: fake readings)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from loadtests.bench import steps as _steps
from loadtests.bench.config import RunSettings
from loadtests.bench.ladder import (
    RECOVERY_SHARES,
    SUSPECT_KNEE_SHARE,
    Climb,
    Reading,
    climb,
    climb_rungs,
    common_ladder,
    comparison_rung,
    headline_rung,
    knee_grid,
    lag_limit_ms,
    lowest_rung,
    navigate,
    p99_fit,
    pair_rung,
    recovery_rungs,
)
from loadtests.bench.progress import Reporter
from loadtests.bench.runner import Bench
from loadtests.bench.serving import Server
from loadtests.bench.steps import step_of
from loadtests.common import hdr as _hdr
from loadtests.common.runfiles import RoundFigures
from loadtests.common.servers import Answers
from loadtests.loadgen.openloop import StepResult

LADDER = [250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0, 6000.0, 8000.0]


def knee_at(knee: float, calls: list[float] | None = None) -> Callable[[float], Reading]:
    """Return a measure whose p99 is 5 ms up to the knee and 60 ms above it."""

    def measure(rate: float) -> Reading:
        if calls is not None:
            calls.append(rate)
        return Reading(rate, 5.0 if rate <= knee else 60.0, 0, 0.1)

    return measure


def test_a_step_is_read_on_its_own_and_lag_only_excuses_a_failure() -> None:
    assert lag_limit_ms(25.0) == 2.5
    assert navigate(Reading(1000, 20.0, 0, 0.1), 25.0) == "pass"
    # A late client only adds latency: a pass stands whatever the lag.
    assert navigate(Reading(1000, 20.0, 0, 9.0), 25.0) == "pass"
    assert navigate(Reading(1000, 30.0, 0, 2.4), 25.0) == "fail"  # lag below the limit
    assert navigate(Reading(1000, 30.0, 0, 2.6), 25.0) == "unknown"  # lag could explain it
    assert navigate(Reading(1000, 5.0, 3, 9.0), 25.0) == "fail"  # lag cannot fail a request
    assert navigate(Reading(1000, None, 0, 0.1), 25.0) == "fail"
    assert p99_fit(10.0, 0.99)
    assert not p99_fit(10.0, 1.01)
    assert not p99_fit(None, 0.0)


def test_the_grid_spans_the_bracket_in_steps_of_about_ten_percent() -> None:
    grid = knee_grid(3000.0, 4000.0)
    assert grid[0] == 3000.0
    assert grid[-1] == 4000.0
    steps = [b / a for a, b in itertools.pairwise(grid)]
    assert all(s <= 1.10 + 1e-3 for s in steps)
    assert max(steps) / min(steps) < 1.01  # geometric
    assert knee_grid(1000.0, 1050.0) == [1000.0, 1050.0]
    with pytest.raises(ValueError, match="low < high"):
        knee_grid(2000.0, 1000.0)


@pytest.mark.parametrize("knee", [700.0, 2345.0, 5100.0])
def test_climb_finds_the_knee_on_its_grid_and_fixes_its_window(knee: float) -> None:
    calls: list[float] = []
    found = climb(knee_at(knee, calls), LADDER)
    assert found.knee is not None
    assert found.knee <= knee
    # The knee is the highest grid rate that passed: its upper neighbour is above the knee.
    above = [r for r in found.window if r > found.knee]
    assert above
    assert above[0] > knee
    assert found.knee in found.window
    # The knee, one grid step above it, two below (about -21 %): a knee that moves down in a
    # later round still has a rung it passes.
    assert len(found.window) == 4
    below = [r for r in found.window if r < found.knee]
    assert len(below) == 2
    assert min(below) >= found.knee / 1.1**2 - 1
    assert found.knee * 1.11 >= min(above)  # within a grid step
    # Every window rung was measured in round 1, once each.
    assert set(found.window) <= set(found.readings)
    # Once each, but for the bracket's top, which failed mildly and got a second look.
    repeated = [r for r in set(calls) if calls.count(r) > 1]
    assert len(repeated) <= 1
    assert all(calls.count(r) == 2 for r in repeated)


def test_the_climb_goes_on_past_a_slow_rung_and_stops_at_ten_times_the_bound() -> None:
    p99 = {250.0: 5.0, 500.0: 5.0, 1000.0: 40.0, 1500.0: 100.0, 2000.0: 300.0}
    calls: list[float] = []

    def measure(rate: float) -> Reading:
        calls.append(rate)
        return Reading(rate, p99.get(rate, 20.0), 0, 0.1)

    found = climb(measure, LADDER)
    assert [c for c in calls if c in LADDER] == [250.0, 500.0, 1000.0, 1500.0, 2000.0, 1000.0]
    assert found.knee is not None
    assert 500.0 <= found.knee < 1000.0


def test_a_failed_request_stops_the_climb() -> None:
    def measure(rate: float) -> Reading:
        return Reading(rate, 3.0, 1 if rate >= 1500 else 0, 0.1)

    found = climb(measure, LADDER)
    assert max(r for r in found.readings if r in LADDER) == 1500.0
    assert found.knee is not None
    assert 1000.0 <= found.knee < 1500.0


def test_an_unknown_rung_counts_as_not_passing_and_is_noted() -> None:
    def measure(rate: float) -> Reading:
        lagged = rate == 2000.0
        return Reading(rate, 40.0 if lagged or rate > 1500 else 5.0, 0, 5.0 if lagged else 0.1)

    found = climb(measure, LADDER)
    assert found.readings[2000.0] == "unknown"
    assert found.knee is not None
    assert found.knee < 2000.0
    assert any("unknown" in note for note in found.notes)


def test_a_mild_failure_at_the_brackets_top_gets_a_second_look() -> None:
    """Round 1's one slow second must not cap the knee for the whole run: the bracket's top is
    measured again, and when it passes the climb's knee moves up; a failure far beyond the
    bound is not measured again."""
    seen: dict[float, int] = {}

    def measure(rate: float) -> Reading:
        seen[rate] = seen.get(rate, 0) + 1
        unlucky = rate in (1000.0, 1500.0) and seen[rate] == 1  # a slow first second
        p99 = 900.0 if rate >= 3000 else 60.0 if unlucky or rate >= 2000 else 5.0
        return Reading(rate, p99, 0, 0.1)

    found = climb(measure, LADDER)
    assert (seen[1000.0], seen[1500.0], seen[2000.0], seen[3000.0]) == (2, 2, 2, 1)
    assert found.knee is not None
    assert 1500.0 <= found.knee < 2000.0
    assert any("measured again" in note for note in found.notes)
    far = climb(lambda r: Reading(r, 900.0 if r >= 1000 else 5.0, 0, 0.1), LADDER)
    assert far.knee is not None
    assert far.knee < 1000.0
    assert not any("measured again" in note for note in far.notes)


def test_a_pass_above_a_failure_does_not_lift_the_knee() -> None:
    """A rung fails twice (its second look too), a higher rung passes: on a shared VM a fast
    second passes a rate the server cannot sustain as readily as a slow one fails one it can,
    so the knee stays below the failure, the lucky pass is noted and no rung above the
    failure becomes the headline's or a pair's."""
    seen: dict[float, int] = {}

    def measure(rate: float) -> Reading:
        seen[rate] = seen.get(rate, 0) + 1
        return Reading(rate, 60.0 if rate in (1000.0, 4000.0) or rate > 4000 else 5.0, 0, 0.1)

    found = climb(measure, LADDER)
    assert seen[1000.0] == 2  # the mild failure got its second look, and failed it again
    assert found.knee is not None
    assert 500.0 <= found.knee < 1000.0
    assert found.readings[2000.0] == "pass"
    assert 2000.0 not in found.common_passed()
    assert found.common_passed() == {250.0, 500.0} & set(found.rungs)
    assert any("passed above a rung that did not" in note for note in found.notes)
    assert all(r < 1000.0 for r in found.window[:-1])


def test_top_rung_passing_is_a_lower_bound_and_no_pass_fixes_the_lowest_rung() -> None:
    found = climb(knee_at(1e9), LADDER)
    assert (found.knee, found.at_least) == (8000.0, True)
    assert found.window == [6000.0, 8000.0]
    none = climb(knee_at(100.0), LADDER)
    assert (none.knee, none.window) == (None, [250.0])
    with pytest.raises(ValueError, match="no rungs"):
        climb(knee_at(100.0), [])


def test_a_pairs_rung_and_the_headline_rung_come_from_round_one() -> None:
    slow, fast = climb(knee_at(1700.0), LADDER), climb(knee_at(5000.0), LADDER)
    # The highest common rung both passed at no more than 70 % of the lower knee (1,612).
    assert slow.knee == 1612.0
    assert pair_rung(slow, fast) == 1000.0
    assert pair_rung(fast, fast) == 3000.0  # knee 4,704: 70 % is 3,293
    low = climb(knee_at(600.0), LADDER)  # no passed common rung under 70 % of a 600 knee...
    assert pair_rung(low, fast) == 250.0  # ...so the lowest both passed
    assert headline_rung([slow, fast], LADDER) == 1500.0
    never = climb(knee_at(100.0), LADDER)
    assert pair_rung(never, fast) is None
    assert headline_rung([never, fast], LADDER) == 250.0  # the lowest rung all measured


class TestComparisonRung:
    """The rung a pair's p99 and p50 (and the headline's every p99) are compared at."""

    def test_it_is_the_highest_common_rung_at_half_the_lower_capacity(self) -> None:
        assert comparison_rung([1500.0, 2600.0], LADDER) == 500.0  # half of 1,500 is 750
        assert comparison_rung([2600.0, 3900.0], LADDER) == 1000.0
        assert comparison_rung([4000.0, 9000.0], LADDER) == 2000.0  # at the limit itself
        assert comparison_rung([300.0, 2600.0], LADDER) == 250.0  # none below: the lowest
        assert comparison_rung([900.0], [500.0, 1000.0]) == 500.0  # a ladder without 250
        assert comparison_rung([None, 0.0], LADDER) is None  # unknown: round 1's passes decide
        assert comparison_rung([1500.0], []) is None

    def test_the_rung_holds_over_the_capacities_three_runs_measured(self) -> None:
        # Round-1 wrk figures of the same targets in three back-to-back default runs on the
        # Intel Xeon VM: flask 1,345-1,689, fastapi 2,178-2,723, article-flask 1,057-1,254.
        # The old rule (70 % of the lower round-1 knee) put the default pair at 500, 500 and
        # 1,000 req/s in those runs; the capacity puts it on one rung.
        for flask in (1345.0, 1508.0, 1689.0):
            for fastapi in (2178.0, 2482.0, 2723.0):
                assert comparison_rung([fastapi, flask], LADDER) == 500.0
                assert comparison_rung([fastapi, fastapi * 1.05], LADDER) == 1000.0
        for article in (1057.0, 1187.0, 1254.0):
            assert comparison_rung([article, 1500.0, 2500.0, 4000.0], LADDER) == 500.0

    def test_a_pair_needs_no_pass_in_round_one_when_capacities_are_known(
        self, tmp_path: Path
    ) -> None:
        """fix_rungs places the pair and the headline by round 1's wrk figures, even on a rung
        one side did not pass in its (disturbed) climb; with a capacity unknown, round 1's
        passes decide as before."""
        settings = RunSettings(targets=("flask", "fastapi"), rounds=3, benches=False)
        bench = Bench(settings, tmp_path, Reporter(1.0, Console(file=io.StringIO())))
        knees = {"flask": 400.0, "fastapi": 1700.0}  # flask failed 500 in round 1
        for name, capacity in (("flask", 1500.0), ("fastapi", 2600.0)):
            rec = bench.records[name]
            rec.climb = climb(knee_at(knees[name]), [250.0, *common_ladder(3000.0)])
            rec.per_round[1] = RoundFigures(round=1, wrk_rps=capacity, wrk_valid=True)
        bench.fix_rungs()
        assert bench.pair_rungs["default"] == 500.0
        assert bench.headline == 500.0
        assert 500.0 in bench.records["flask"].fixed
        assert "pair default" in bench.records["flask"].roles[500.0]
        bench.pair_rungs.clear()
        bench.records["fastapi"].per_round[1] = RoundFigures(round=1)  # no valid figure
        bench.fix_rungs()
        assert bench.pair_rungs["default"] == 250.0  # the highest rung both passed
        assert bench.headline == 250.0


def test_a_step_straight_after_a_clean_pass_skips_the_settle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/health is asked before a step unless the step before it, on the same server and less
    than CLEAN_FOR_S ago (on a clock the test moves), passed with every answer in; later
    rounds' steps offer half the requests (their answers are only pooled)."""
    settings = RunSettings(targets=("flask",), rounds=3, benches=False)
    bench = Bench(settings, tmp_path, Reporter(1.0, Console(file=io.StringIO())))
    histogram = _hdr.new_histogram()
    _hdr.record_seconds(histogram, 0.002)
    queue = [result(5.0, 0.1), result(5.0, 0.1), result(60.0, 0.1), *[result(5.0, 0.1)] * 2]
    seconds: list[float] = []

    class Stepper:
        def run(self, url: str, rate: float, duration_s: float, **_: object) -> StepResult:
            seconds.append(duration_s)
            out = queue.pop(0)
            out.latency_hdr = _hdr.encode(histogram)
            return out

    settles: list[str] = []
    clock = [100.0]  # the steps' monotonic clock, moved by hand: no wall time decides
    monkeypatch.setattr(type(bench), "stepper", property(lambda self: Stepper()))
    monkeypatch.setattr(_steps, "settle", lambda url: settles.append(url) or True)
    monkeypatch.setattr(_steps._cpu, "wait_idle", lambda pid: 0.0)
    monkeypatch.setattr(_steps.time, "monotonic", lambda: clock[0])
    server = Server("http://127.0.0.1:1", Answers(b"{}", b"{}"), None)
    other = Server("http://127.0.0.1:2", Answers(b"{}", b"{}"), None)
    rec = bench.records["flask"]
    bench.step("t", rec, 1, server, 500.0, "climb")  # first: settles
    clock[0] += _steps.CLEAN_FOR_S / 2
    bench.step("t", rec, 2, server, 500.0, "fixed")  # after a clean pass: no settle
    bench.step("t", rec, 2, other, 500.0, "fixed")  # another server: settles; p99 60 fails
    bench.step("t", rec, 2, other, 500.0, "fixed")  # after a failure: settles
    clock[0] += _steps.CLEAN_FOR_S * 2
    bench.step("t", rec, 2, other, 500.0, "fixed")  # a clean pass, but too long ago: settles
    assert settles == [server.url, other.url, other.url, other.url]
    assert seconds == [1.0, 0.5, 0.5, 0.5, 0.5]  # 500 requests in round 1, 250 later


def test_common_ladder_is_absolute_and_ends_at_the_top() -> None:
    assert common_ladder(9000, lowest=250.0) == [*LADDER, 12000.0]
    assert common_ladder(9000)[0] == 500.0
    assert common_ladder(3000)[-1] == 3000.0
    assert common_ladder(100) == [500.0]
    assert common_ladder(100, lowest=250.0) == [250.0]


def test_each_target_climbs_to_a_quarter_above_its_own_peak() -> None:
    assert climb_rungs(None, 3200.0) == [500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0]
    assert climb_rungs(None, 800.0) == [250.0, 500.0, 1000.0]
    assert climb_rungs((300.0, 100.0), 5000.0) == [100.0, 300.0]  # a given ladder, as given
    assert lowest_rung(999.0) == 250.0
    assert lowest_rung(None) == 250.0
    assert lowest_rung(1000.0) == 500.0


def test_a_slow_rung_runs_long_enough_for_its_answers() -> None:
    """Every step offers at least step_min_requests; fast rungs keep --step."""
    settings = RunSettings(step_s=0.5, step_min_requests=500)
    assert settings.step_s_at(250.0) == 2.0
    assert settings.step_s_at(500.0) == 1.0
    assert settings.step_s_at(4000.0) == 0.5
    assert RunSettings(step_s=0.4, step_min_requests=0).step_s_at(500.0) == 0.4
    # Rounds 2... offer half as many: their answers are only ever pooled with round 1's.
    assert settings.later_step_min_requests == 250
    assert settings.step_s_at(250.0, later=True) == 1.0
    assert settings.step_s_at(500.0, later=True) == 0.5
    assert settings.as_dict()["later_step_min_requests"] == 250


def result(p99: float, lag: float, *, failed: int = 0) -> StepResult:
    """Return an open-loop step's result with this p99 and send lag."""
    return StepResult(
        offered_rps=1000.0,
        duration_s=0.5,
        sent=500,
        ok=500 - failed,
        failed=failed,
        dropped=0,
        achieved_rps=1000.0,
        p50_ms=p99 / 4,
        p90_ms=p99 / 2,
        p99_ms=p99,
        p999_ms=p99 * 2,
        max_ms=p99 * 3,
        service_p50_ms=None,
        service_p99_ms=None,
        send_lag_p99_ms=lag,
        wait_p99_ms=lag,
        client_cpu_us_per_request=30.0,
        client_cpu_percent=20.0,
        connections_opened=1,
        over=3,
    )


def test_a_step_is_invalid_for_the_decision_only_when_its_lag_could_change_it() -> None:
    """Above a tenth of the bound (2.5 ms at 25 ms) a failed step's lag could have failed it;
    below it, or when the step passed anyway, it decides; a p99 is unfit to report when the lag
    is above a tenth of it."""
    late = step_of(result(30.0, 2.6), 1, 25.0, "climb", "x.hdr")
    assert not late.valid
    assert "limit 2.5 ms" in (late.invalid_reason or "")
    assert step_of(result(30.0, 2.4), 1, 25.0, "climb", "x.hdr").valid
    passed = step_of(result(20.0, 9.0), 1, 25.0, "climb", "x.hdr")
    assert passed.valid  # lateness only adds latency: the pass stands
    assert not passed.p99_fit  # but 9 ms of lag is too much of a 20 ms p99 to report it
    fit = step_of(result(20.0, 1.9), 1, 25.0, "fixed", "x.hdr")
    assert fit.p99_fit
    assert fit.over == 3
    assert fit.kind == "fixed"
    # A late client cannot fail a request: that step decides whatever its lag.
    assert step_of(result(5.0, 9.0, failed=1), 1, 25.0, "climb", "x.hdr").valid


class TestRecoveryRungs:
    """Round 1's knee far below the target's own capacity: a disturbed climb, likely."""

    def test_a_suspect_knee_adds_rungs_at_shares_of_the_capacity(self) -> None:
        # The case behind the rule: FastAPI def's knee at 545 req/s, its wrk 2,062 req/s.
        assert recovery_rungs(545.0, 2062.0) == [round(share * 2062.0) for share in RECOVERY_SHARES]
        assert recovery_rungs(545.0, 2062.0) == [928.0, 1072.0, 1237.0, 1423.0]

    @pytest.mark.parametrize(
        ("knee", "capacity"),
        [(1383.0, 2766.0), (825.0, 2062.0), (None, 2062.0), (545.0, None), (545.0, 0.0)],
    )
    def test_a_plausible_or_unknown_knee_adds_nothing(
        self, knee: float | None, capacity: float | None
    ) -> None:
        assert recovery_rungs(knee, capacity) == []

    def test_the_limit_sits_between_the_plausible_knees_and_the_disturbed_ones(self) -> None:
        # 96 target-runs: 0.50-1.17 of capacity, but three disturbed climbs at 0.26-0.35.
        assert 0.35 < SUSPECT_KNEE_SHARE < 0.50
        assert RECOVERY_SHARES[0] > SUSPECT_KNEE_SHARE
        assert list(RECOVERY_SHARES) == sorted(RECOVERY_SHARES)


def test_the_fixed_rungs_of_a_suspect_knee_include_the_recovery_rungs(tmp_path: Path) -> None:
    """fix_rungs adds them to the target's rungs for rounds 2..., with their role, and warns;
    a target whose knee is plausible keeps its window alone."""
    settings = RunSettings(targets=("flask", "fastapi"), rounds=3, benches=False)
    bench = Bench(settings, tmp_path, Reporter(1.0, Console(file=io.StringIO())))
    cases = {"fastapi": (545.0, 2062.0), "flask": (1000.0, 1500.0)}
    for name, (knee, capacity) in cases.items():
        rec = bench.records[name]
        rec.climb = Climb(knee=knee, window=[knee / 1.21, knee / 1.1, knee, knee * 1.1])
        rec.per_round[1] = RoundFigures(round=1, wrk_rps=capacity, wrk_valid=True)
    before = list(bench.warnings)
    bench.fix_rungs()
    fastapi, flask = bench.records["fastapi"], bench.records["flask"]
    assert set(recovery_rungs(545.0, 2062.0)) <= set(fastapi.fixed)
    assert all("recovery" in fastapi.roles[r] for r in recovery_rungs(545.0, 2062.0))
    assert not any("recovery" in roles for roles in flask.roles.values())
    assert max(flask.fixed) == pytest.approx(1100.0)
    [warning] = bench.warnings[len(before) :]
    assert warning.startswith("fastapi: round 1's knee (545 req/s) lies below 40 %")
    # A knee at the top of the climb is a lower bound, and a given ladder is the user's own:
    # neither is a climb cut short.
    fastapi.climb = Climb(knee=545.0, at_least=True, window=[500.0, 545.0])
    fastapi.roles.clear()
    bench.fix_rungs()
    assert fastapi.fixed == [500.0, 545.0]
    fastapi.climb = Climb(knee=545.0, window=[500.0, 545.0, 600.0])
    bench.s = RunSettings(targets=("flask", "fastapi"), rounds=3, benches=False, ladder=(500, 545))
    bench.fix_rungs()
    assert fastapi.fixed == [500.0, 545.0, 600.0]
