"""How a gap between the run's wrk figure and wrk against the target alone is read."""

from __future__ import annotations

import random
import statistics

import pytest

from loadtests.bench.gap import (
    ALONE_TOLERANCE,
    Gap,
    machine_shift,
    one_more_round,
    read_gap,
    read_run,
    why_apart,
)
from loadtests.common.runfiles import Alone, RoundFigures


def test_the_machine_shift_is_the_median_of_every_target_and_needs_three() -> None:
    assert machine_shift([0.8, 0.85, None, 1.3]) == pytest.approx(0.85)
    assert machine_shift([0.8, 0.85]) is None  # two targets cannot tell the machine
    assert machine_shift([0.8, None, 0.0, 0.85]) is None  # absent and zero figures left out


def test_one_more_round_is_students_prediction_interval() -> None:
    """mean ± t(0.975, n-1) · s · sqrt(1 + 1/n): for 900, 1,000, 1,100 the t is 4.303."""
    low, high = one_more_round([900.0, 1000.0, 1100.0]) or (0.0, 0.0)
    half = 4.3027 * 100.0 * (1 + 1 / 3) ** 0.5
    assert low == pytest.approx(1000.0 - half, rel=1e-4)
    assert high == pytest.approx(1000.0 + half, rel=1e-4)
    assert one_more_round([900.0, 1100.0]) is None  # two rounds: no spread to speak of


def test_one_more_round_holds_a_sixth_process_as_often_as_it_says() -> None:
    """Under no effect at all (every figure from one distribution), the prediction interval
    of five rounds holds a sixth draw about 95 % of the time; the rounds' range, which the
    rule before it used, only about 4 times in 6."""
    rng = random.Random(20261208)
    trials, inside, in_range = 4000, 0, 0
    for _ in range(trials):
        rounds = [rng.gauss(2500.0, 250.0) for _ in range(5)]
        sixth = rng.gauss(2500.0, 250.0)
        low, high = one_more_round(rounds) or (0.0, 0.0)
        inside += low <= sixth <= high
        in_range += min(rounds) <= sixth <= max(rounds)
    assert 0.93 <= inside / trials <= 0.97
    assert 0.62 <= in_range / trials <= 0.71


ROUNDS = [2200.0, 2500.0, 2650.0, 2400.0, 2750.0]  # one more round: 1,855-3,145


@pytest.mark.parametrize(
    ("alone_rps", "shift", "cause"),
    [
        # Every target's figure alone came out 20 % faster (shift 0.83): this one with them.
        (3000.0, 0.83, "machine"),
        # The machine did not move; the figure alone is within one more round's spread.
        (2250.0, 1.0, "process"),
        # The machine moved, and this target moved further than the rounds allow.
        (4200.0, 0.83, "run"),
        # The machine's shift is not known (too few targets): the spread alone decides.
        (2250.0, None, "process"),
        (1700.0, None, "run"),
    ],
)
def test_a_gap_reads_as_the_machine_then_one_more_process_then_the_run(
    alone_rps: float, shift: float | None, cause: str
) -> None:
    ratio = statistics.median(ROUNDS) / alone_rps
    assert abs(ratio - 1) > ALONE_TOLERANCE  # each case is a gap past the tolerance
    gap = read_gap(alone_rps, ratio, shift, ROUNDS)
    assert gap.cause == cause
    if shift is not None:
        assert gap.after_shift == pytest.approx(ratio / shift)


def test_too_few_rounds_never_read_as_the_run() -> None:
    gap = read_gap(1900.0, 1.3, None, [2400.0, 2500.0])
    assert gap.cause == "unknown"
    assert "too few rounds" in why_apart(gap)


def test_the_warning_names_the_reading_and_its_figures() -> None:
    machine = why_apart(Gap("machine", 0.84, 1.03, 2200.0, 2800.0))
    assert "every target's figure alone moved with it" in machine
    assert "0.84" in machine
    assert "1.03" in machine
    process = why_apart(Gap("process", 1.0, 0.88, 2211.0, 2789.0))
    assert "(2,211-2,789 req/s)" in process
    assert "one more process's speed explains it" in process
    run = why_apart(Gap("run", 0.83, 0.84, 2211.0, 2789.0))
    assert "outside" in run
    assert "something of the run moves this target" in run


def test_a_run_is_read_once_for_its_run_report_and_stability() -> None:
    """read_run: the shift over every target measured alone, each gap read over its valid
    rounds only; a target without a standalone figure is left out."""
    rounds = [RoundFigures(round=n, wrk_rps=rps, wrk_valid=True) for n, rps in enumerate(ROUNDS)]
    bad = RoundFigures(round=9, wrk_rps=90_000.0, wrk_valid=False)  # would widen the spread
    median_rps = statistics.median(ROUNDS)

    def alone(rps: float) -> Alone:
        return Alone(wrk_rps=rps, run_wrk_rps=median_rps, ratio=median_rps / rps, agrees=False)

    shift, gaps = read_run(
        {
            "a": (alone(3000.0), rounds),
            "b": (alone(3000.0), rounds),
            "c": (alone(4200.0), [*rounds, bad]),
            "d": (None, rounds),
        }
    )
    assert shift == pytest.approx(median_rps / 3000.0)
    assert set(gaps) == {"a", "b", "c"}
    assert gaps["a"].cause == "machine"
    assert gaps["c"].cause == "run"  # the invalid round left out of one more round's spread
    assert gaps["c"].high == pytest.approx((one_more_round(ROUNDS) or (0.0, 0.0))[1])
