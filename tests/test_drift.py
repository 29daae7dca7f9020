"""make drift: a throughput ratio measured in several sets of fresh servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.bench.drift import analyse, between_sd, block_order, lines, main
from loadtests.common.procs import is_gone


def test_each_target_takes_each_place_in_turn() -> None:
    targets = ["flask", "fastapi", "fastapi-async"]
    orders = [block_order(targets, b) for b in range(3)]
    assert orders[0] == targets
    for place in range(3):
        assert sorted(order[place] for order in orders) == sorted(targets)
    assert block_order(targets, 3) == targets


def test_between_set_deviation_is_zero_without_an_offset_and_found_with_one() -> None:
    same = [[1.0, 1.1, 0.9], [1.1, 0.9, 1.0], [0.9, 1.0, 1.1]]
    assert between_sd(same) == 0.0
    # Means 1.0 and 1.2, variance of the means 0.02, within-set variance 1e-4 over 3 blocks.
    offset = [[1.0, 1.01, 0.99], [1.2, 1.21, 1.19]]
    assert between_sd(offset) == pytest.approx((0.02 - 1e-4 / 3) ** 0.5 / 1.1)
    assert between_sd([[1.0, 1.1]]) is None  # one set: nothing to compare
    assert between_sd([[1.0], [1.2]]) is None  # no within-set variance to subtract


def _sets(*ratio_lists: list[float | None]) -> list[dict[str, list[float | None]]]:
    return [
        {"flask": [1000.0] * len(r), "fastapi": [None if x is None else 1000.0 * x for x in r]}
        for r in ratio_lists
    ]


def test_sets_that_differ_are_told_apart_from_sets_that_do_not() -> None:
    targets = ["flask", "fastapi"]
    moved = analyse(_sets([1.10, 1.11, 1.09, 1.12, 1.08], [1.30, 1.31, 1.29, 1.32, 1.28]), targets)
    c = moved["contrasts"]["fastapi"]
    assert c["versus"] == "flask"
    assert c["set_medians"] == pytest.approx([1.10, 1.30])
    assert c["spread"] == pytest.approx(0.10 / 1.20)
    assert c["kruskal_p"] < 0.05
    assert c["between_sd"] > 0.1
    assert "differ more than their blocks do" in lines({"contrasts": moved["contrasts"]})[0]

    steady = analyse(_sets([1.10, 1.12, 1.08, 1.11, 1.09], [1.11, 1.09, 1.10, 1.08, 1.12]), targets)
    c = steady["contrasts"]["fastapi"]
    assert c["kruskal_p"] > 0.05
    assert c["between_sd"] == 0.0
    assert "do not differ beyond chance" in lines({"contrasts": steady["contrasts"]})[0]


def test_an_invalid_block_leaves_only_that_block_out() -> None:
    found = analyse(_sets([1.1, None, 1.3], [1.2, 1.2, 1.2]), ["flask", "fastapi"])
    first = found["per_set"][0]
    assert first["ratios"]["fastapi"]["blocks"] == pytest.approx([1.1, 1.3])
    assert first["rps"]["fastapi"] == pytest.approx(1200.0)
    assert first["rps"]["flask"] == pytest.approx(1000.0)
    assert found["contrasts"]["fastapi"]["set_medians"] == pytest.approx([1.2, 1.2])


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_two_sets_against_real_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "drift.json"
    args = ["--targets", "flask", "fastapi", "--sets", "2", "--blocks", "2", "--json", str(out)]
    assert main(args) == 0
    found = json.loads(out.read_text())
    assert len(found["calibration_ms"]) == 2
    assert len(found["block_rps"]) == 2
    for blocks in found["block_rps"]:
        assert [len(blocks[t]) for t in ("flask", "fastapi")] == [2, 2]
        assert all(v is not None and v > 0 for t in ("flask", "fastapi") for v in blocks[t])
    contrast = found["contrasts"]["fastapi"]
    assert len(contrast["set_medians"]) == 2
    # Fresh servers a set: two of each, all stopped by their PIDs afterwards.
    assert len(set(found["server_pids"])) == 4
    assert all(is_gone(pid) for pid in found["server_pids"])
    assert (tmp_path / "drift" / "wrk" / "set2-b2-flask.txt").exists()
    printed = capsys.readouterr().out
    assert "fastapi : flask: set medians" in printed
    for bad in (["--sets", "1"], ["--targets", "flask"], ["--targets", "flask", "flask"]):
        with pytest.raises(SystemExit):
            main(bad)
