"""make jitter: one ladder step repeated on one target, beside a stall meter on its core."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.bench.jitter import FIGURES, main, stalls_between, summarise_stalls
from loadtests.common.procs import is_gone
from loadtests.common.stats import deviation_from_median


def test_the_stall_meter_counts_late_wake_ups_and_places_them_in_steps() -> None:
    events = [(10.0, 0.0006), (10.5, 0.0025), (12.0, 0.0009)]
    found = summarise_stalls(events, 4000, 0.0025, "SCHED_FIFO 1")
    assert (found.wakeups, found.late_over_0_5_ms, found.late_over_2_ms) == (4000, 3, 1)
    assert found.max_late_ms == 2.5
    assert summarise_stalls([], 10, 0.0001, "normal").late_over_0_5_ms == 0
    assert stalls_between(events, 9.9, 11.0) == {"stalls": 2, "longest_stall_ms": 2.5}
    assert stalls_between(events, 11.0, 11.9) == {"stalls": 0, "longest_stall_ms": 0.0}


def test_spread_is_the_largest_deviation_from_the_median() -> None:
    assert deviation_from_median([1.0, 2.0, 4.0]) == 1.0
    assert deviation_from_median([3.0]) is None
    assert deviation_from_median([0.0, 0.0]) is None


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_identical_steps_against_a_real_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "jitter.json"
    args = ["--target", "flask", "--rate", "200", "--steps", "2", "--step", "0.3", "--json"]
    assert main([*args, str(out)]) == 0
    found = json.loads(out.read_text())
    assert len(found["steps"]) == 2
    for step in found["steps"]:
        assert step["ok"] > 0
        assert step["sent"] == step["ok"] + step["failed"] + step["dropped"]
        assert step["p99_ms"] >= step["p50_ms"] > 0
    assert set(found["spread"]) == set(FIGURES)
    assert found["stalls"]["wakeups"] > 0
    # The meter asks for the same priority as the client, so they get the same answer.
    assert found["stalls"]["scheduling"] == found["client_scheduling"]
    assert all(step["stalls"] >= 0 for step in found["steps"])
    calm = [s["p99_ms"] for s in found["steps"] if s["stalls"] == 0]
    assert found["calm_steps"] == len(calm)
    assert is_gone(found["server_pid"])  # the server was stopped, by its PID
    printed = capsys.readouterr().out
    assert "stall meter on the server core" in printed
    assert "spread" in printed
    with pytest.raises(SystemExit):
        main(["--steps", "1"])
