"""Costs that add up: the in-process benches on the CPU clock beside the wall clock, and a CPU
split per request whose parts sum to the server's CPU per request under load.

The benches' figures go through the runner's own code (``benches.parse`` on pytest-benchmark's
format, ``benches.merge``, ``summary.decomposition``, ``TargetRecord.summary``) into the
run-file models; old run files still load. The report's side: tests/test_report_cpu.py.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from loadtests.bench import benches
from loadtests.bench.config import RunSettings
from loadtests.bench.results import TargetRecord, target_info
from loadtests.bench.summary import CPU_BENCHES, decomposition
from loadtests.common.runfiles import (
    BenchFigures,
    Decomposition,
    RoundFigures,
    Summary,
)

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "report_fixture"
OLD_RUNS = (
    FIXTURE / "summary.json",
    DATA / "claims_fixture" / "summary.json.gz",
    Path(__file__).parent / "data" / "default_run_20261126" / "summary.json",
)
# Microseconds per call on each clock: made up, of the order a run measures (the tests check
# how the figures travel and add up, never the figures themselves).
WALL = {
    "test_flask_request[validated]": 130.0,
    "test_flask_request[seed]": 110.0,
    "test_fastapi_request[def]": 512.0,
    "test_fastapi_request[async]": 140.0,
    "test_predict[onnx]": 9.0,
    "test_parse_and_validate": 8.8,
    "test_predict[sklearn]": 217.0,
}
CPU = {
    "test_flask_request[validated]": 120.0,
    "test_flask_request[seed]": 105.0,
    "test_fastapi_request[def]": 410.0,
    "test_fastapi_request[async]": 132.0,
    "test_predict[onnx]": 10.5,
    "test_parse_and_validate": 7.1,
}
SWEEP = [{"users": 1, "p50_ms": 0.9}, {"users": 8, "p50_ms": 2.5}]


def pytest_benchmark_json(medians_us: dict[str, float]) -> dict[str, Any]:
    """Return what pytest-benchmark's --benchmark-json writes (the keys benches.parse reads)."""
    return {
        "benchmarks": [
            {
                "name": name,
                "group": "framework" if "request" in name else "model",
                "stats": {
                    "median": us / 1e6,
                    "mean": us * 1.1 / 1e6,
                    "min": us * 0.9 / 1e6,
                    "max": us * 3 / 1e6,
                    "stddev": us * 0.2 / 1e6,
                    "iqr": us * 0.1 / 1e6,
                    "ops": 1e6 / us,
                    "rounds": 1000,
                },
            }
            for name, us in medians_us.items()
        ]
    }


def both_clocks() -> dict[str, dict[str, Any]]:
    """Return the benches' figures as a run keeps them: wall, with the CPU clock's beside."""
    wall = benches.parse(pytest_benchmark_json(WALL))
    return benches.merge(wall, benches.parse(pytest_benchmark_json(CPU)))


def parts(split: Decomposition) -> float:
    """Return the sum of the CPU split's parts."""
    assert split.cpu is not None
    cpu = split.cpu
    assert cpu.server_kernel_us is not None
    return cpu.model_us + cpu.validation_us + cpu.framework_us + cpu.server_kernel_us


def test_benches_keep_both_clocks_and_only_the_decompositions_on_cpu() -> None:
    figures = {name: BenchFigures.model_validate(f) for name, f in both_clocks().items()}
    assert set(CPU) == set(CPU_BENCHES)
    for name, bench in figures.items():
        assert bench.median_us == pytest.approx(WALL[name])
        if name in CPU:
            assert bench.cpu is not None
            assert bench.cpu.median_us == pytest.approx(CPU[name])
        else:
            assert bench.cpu is None


@pytest.mark.parametrize(
    ("framework", "handler", "request_bench"),
    [
        ("fastapi", "def", "test_fastapi_request[def]"),
        ("fastapi", "async", "test_fastapi_request[async]"),
        ("flask", "def", "test_flask_request[validated]"),
        ("flask", "seed", "test_flask_request[seed]"),
    ],
)
@pytest.mark.parametrize("server_cpu_us", [353.0, 820.5])
def test_the_cpu_parts_add_up_to_the_server_cpu(
    framework: str, handler: str, request_bench: str, server_cpu_us: float
) -> None:
    found = decomposition(framework, handler, SWEEP, both_clocks(), server_cpu_us=server_cpu_us)
    split = Decomposition.model_validate(found)
    assert split.cpu is not None
    assert split.cpu.server_us == server_cpu_us
    assert parts(split) == pytest.approx(server_cpu_us, abs=0.01)
    assert split.cpu.in_process_us == pytest.approx(CPU[request_bench])
    assert split.cpu.model_us == pytest.approx(CPU["test_predict[onnx]"])
    validation = 0.0 if handler == "seed" else CPU["test_parse_and_validate"]
    assert split.cpu.validation_us == pytest.approx(validation)
    # the wall figures stay wall, apart from the CPU split
    assert split.in_process_us == pytest.approx(WALL[request_bench])
    assert split.model_us == pytest.approx(WALL["test_predict[onnx]"])
    assert split.http_p50_us == pytest.approx(900.0)
    assert split.server_network_us == pytest.approx(900.0 - WALL[request_bench])


def test_a_negative_rest_is_kept_so_the_parts_still_add_up() -> None:
    found = decomposition("fastapi", "def", SWEEP, both_clocks(), server_cpu_us=300.0)
    split = Decomposition.model_validate(found)
    assert split.cpu is not None
    assert split.cpu.server_kernel_us is not None
    assert split.cpu.server_kernel_us == pytest.approx(300.0 - CPU["test_fastapi_request[def]"])
    assert split.cpu.server_kernel_us < 0
    assert parts(split) == pytest.approx(300.0, abs=0.01)


def test_without_the_cpu_clock_the_split_is_wall_only() -> None:
    wall_only = benches.merge(benches.parse(pytest_benchmark_json(WALL)), {})
    split = Decomposition.model_validate(
        decomposition("fastapi", "def", SWEEP, wall_only, server_cpu_us=353.0)
    )
    assert split.cpu is None
    assert split.in_process_us == pytest.approx(WALL["test_fastapi_request[def]"])
    without_server = decomposition("fastapi", "def", SWEEP, both_clocks(), server_cpu_us=None)
    cpu = Decomposition.model_validate(without_server).cpu
    assert cpu is not None
    assert (cpu.server_us, cpu.server_kernel_us) == (None, None)


def test_a_target_splits_the_median_of_its_rounds_server_cpu() -> None:
    record = TargetRecord(target_info("fastapi", RunSettings()), slo_ms=25.0, confidence=0.99)
    for rnd, cpu in enumerate((420.0, 300.0, 353.0), start=1):
        record.per_round[rnd] = RoundFigures(round=rnd, cpu_us_per_request=cpu)
    record.per_round[4] = RoundFigures(round=4)  # a round without a wrk phase
    split = record.summary(both_clocks(), excluded=set()).decomposition
    assert split is not None
    assert split.cpu is not None
    assert split.cpu.server_us == 353.0
    assert parts(split) == pytest.approx(353.0, abs=0.01)


@pytest.mark.parametrize("path", OLD_RUNS, ids=lambda p: p.parent.name)
def test_old_run_files_still_load(path: Path) -> None:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    summary = Summary.model_validate_json(raw)
    assert summary.benchmarks
    assert all(b.cpu is None for b in summary.benchmarks.values())
    splits = [t.decomposition for t in summary.targets.values() if t.decomposition]
    assert splits
    assert all(split.cpu is None for split in splits)
