"""A wrk pass whose server did not get its cores measured the machine: it is shown, named and
left out of its round's figure; a round with no pass left has no figure for that target, and
the pair leaves that round out with the reason. Rounds are flagged by steal time alone (the
calibration is shown: tests/test_noise.py). The real run's side: tests/test_bench.py."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from loadtests.bench.compare import compare
from loadtests.bench.config import RunSettings
from loadtests.bench.cpu import Counters, share_pct
from loadtests.bench.progress import Reporter
from loadtests.bench.results import SATURATION_LIMIT_PCT, TargetRecord, target_info, validity
from loadtests.bench.runner import Bench


def counters(cpu_s: float) -> Counters:
    return Counters(user_s=cpu_s * 0.8, kernel_s=cpu_s * 0.2, passive_opens=0, active_opens=0)


class TestShare:
    def test_cpu_time_over_the_pass_on_one_core(self) -> None:
        assert share_pct(counters(10.0), counters(10.9), 1.0, (0,), 1) == pytest.approx(90.0)

    def test_a_worker_per_core_at_most(self) -> None:
        # Two workers on four cores can use two of them; four workers on two cores, two.
        assert share_pct(counters(0.0), counters(1.9), 1.0, (0, 1, 2, 3), 2) == 95.0
        assert share_pct(counters(0.0), counters(1.9), 1.0, (0, 1), 4) == 95.0

    def test_an_unpinned_server_has_no_share(self) -> None:
        assert share_pct(counters(0.0), counters(1.0), 1.0, None, 1) is None
        assert share_pct(counters(0.0), counters(1.0), 0.0, (0,), 1) is None


class TestValidity:
    def test_a_server_short_of_its_core_makes_the_pass_invalid(self) -> None:
        reason = validity(20.0, server_share_pct=72.4)
        assert reason is not None
        assert "server got 72 % of its cores" in reason
        assert f"limit {SATURATION_LIMIT_PCT:g} %" in reason

    def test_at_the_limit_or_unknown_the_pass_counts(self) -> None:
        assert validity(20.0, server_share_pct=SATURATION_LIMIT_PCT) is None
        assert validity(20.0, server_share_pct=None) is None

    def test_a_busy_load_generator_is_named_first(self) -> None:
        reason = validity(95.0, server_share_pct=50.0)
        assert reason is not None
        assert reason.startswith("load generator")


def wrk_pass(rps: float, share: float, user_us: float = 300.0) -> dict[str, Any]:
    """The figures of one wrk pass, as the runner's wrk() gives them (the keys used here)."""
    reason = validity(10.0, server_share_pct=share)
    return {
        "phase": "wrk-c32",
        "rps": rps,
        "requests": int(rps),
        "server_share_pct": share,
        "user_us": user_us,
        "kernel_us": 50.0,
        "connections_per_request": 0.0,
        "client_connections_per_request": 0.0,
        "valid": reason is None,
        "invalid_reason": reason,
    }


def record(name: str = "fastapi") -> TargetRecord:
    return TargetRecord(target_info(name, RunSettings()), slo_ms=25.0, confidence=0.99)


class TestRoundFigure:
    def test_a_disturbed_pass_is_left_out_of_the_round(self) -> None:
        rec = record()
        for figures in (wrk_pass(1200.0, 70.0, user_us=500.0), wrk_pass(2400.0, 99.0)):
            rec.add("wrk", figures)
            fig = rec.add_wrk_pass(1, figures)
        assert fig.wrk_samples == [1200.0, 2400.0]
        assert fig.wrk_samples_valid == [False, True]
        assert fig.wrk_valid
        assert fig.wrk_rps == 2400.0
        assert fig.user_us == 300.0  # the CPU split of the counted pass too
        assert fig.cpu_us_per_request == 350.0

    def test_a_round_without_a_valid_pass_has_no_valid_figure(self) -> None:
        rec = record()
        for figures in (wrk_pass(1200.0, 70.0), wrk_pass(1000.0, 60.0)):
            fig = rec.add_wrk_pass(1, figures)
        assert not fig.wrk_valid
        assert fig.wrk_rps == 1100.0  # shown, greyed: the mean of what was measured

    def test_the_target_names_every_pass_left_out(self) -> None:
        rec = record()
        passes = {1: (2400.0, 99.0), 2: (1300.0, 71.0), 3: (1500.0, 84.0)}
        for rnd, (rps, share) in passes.items():
            for figures in (wrk_pass(rps, share), wrk_pass(2350.0, 98.0)):
                rec.add("wrk", figures)
                rec.add_wrk_pass(rnd, figures)
        summary = rec.summary({}, excluded=set())
        flag = next(f for f in summary.flags if "wrk passes left out" in f)
        assert flag.startswith("2 of 6 wrk passes left out of its figures (round 2, 3)")
        assert "71-84 % of its cores" in flag
        assert summary.wrk is not None
        assert summary.wrk.repeats == 4  # the target's wrk figure: the counted passes only
        assert summary.wrk.valid


def test_a_pair_leaves_out_the_round_one_side_could_not_measure(tmp_path: Path) -> None:
    """The pair's ratio uses only the rounds both sides measured validly, says which it left
    out and why, and its word comes from the rest (the run's own default pair)."""
    recs = {"fastapi": record("fastapi"), "flask": record("flask")}
    for rnd in range(1, 6):
        for name, rps in (("fastapi", 2400.0 + rnd), ("flask", 1200.0 + rnd)):
            share = 60.0 if (name, rnd) == ("flask", 3) else 99.0
            for _ in range(2):
                recs[name].add_wrk_pass(rnd, wrk_pass(rps, share))
    targets = {name: rec.summary({}, excluded=set()) for name, rec in recs.items()}
    bench = Bench(RunSettings(benches=False), tmp_path, Reporter(1.0, Console(file=io.StringIO())))
    pair = next(p for p in bench.pairs(list(recs)) if p.name == "default")
    assert (pair.numerator, pair.denominator) == ("fastapi", "flask")
    throughput = next(c for c in compare(targets, [pair], set()) if c.figure == "throughput")
    assert set(throughput.ratios) == {1, 2, 4, 5}
    assert throughput.left_out == {3: "invalid figure"}
    assert throughput.rounds == 4
    assert throughput.median == pytest.approx(2.0, abs=0.01)
    assert throughput.word == "faster"
