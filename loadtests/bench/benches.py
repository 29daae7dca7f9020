"""Run the in-process pytest-benchmark benches (benchmarks/) into the run folder, on two clocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtests.bench.summary import CPU_BENCHES
from loadtests.common.procs import Ledger, Managed, ProcessError, Registry
from loadtests.common.runfiles import BENCHMARKS_CPU_FILE

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
TIMEOUT_S = 600.0
WALL_TIMER = "time.perf_counter"  # pytest-benchmark's default, named so both passes say theirs
# CPU time of the whole process, user and kernel, every thread: FastAPI def's thread-pool
# worker counts; time spent asleep or waiting to be scheduled does not. Nanosecond resolution
# on Linux (clock_gettime(CLOCK_PROCESS_CPUTIME_ID)), so pytest-benchmark calibrates its
# rounds on it as on the wall clock.
CPU_TIMER = "time.process_time"


def run(
    json_path: Path,
    *,
    max_time_s: float,
    cores: Sequence[int] | None,
    log_path: Path,
    ledger: Ledger,
    registry: Registry,
) -> dict[str, dict[str, Any]]:
    """Run every bench on the wall clock, then the decomposition's on the CPU clock (into
    BENCHMARKS_CPU_FILE beside json_path), pinned to the server cores; return the figures
    by test name, with the CPU clock's under "cpu" where measured."""
    # Only pytest-benchmark: the other installed plugins (schemathesis, playwright, ...)
    # cost seconds of imports and nothing here uses them.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    passes = (
        (json_path, WALL_TIMER, ()),
        (json_path.with_name(BENCHMARKS_CPU_FILE), CPU_TIMER, ("-k", " or ".join(CPU_BENCHES))),
    )
    figures = []
    for path, timer, select in passes:
        argv = [*_argv(path, timer, max_time_s), *select]
        proc = registry.add(
            Managed(
                "bench",
                f"pytest-benchmark ({timer})",
                argv,
                env=env,
                cores=cores,
                log_path=log_path,
                ledger=ledger,
            )
        )
        try:
            code = proc.popen.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ProcessError(f"benches ({timer}) did not finish in {TIMEOUT_S:.0f}s") from None
        finally:
            registry.stop(proc)
        if code != 0 or not path.exists():
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
            raise ProcessError(
                f"benches ({timer}) failed (exit {code}); see {log_path}:\n" + "\n".join(tail)
            )
        figures.append(parse(json.loads(path.read_text(encoding="utf-8"))))
    wall, cpu = figures
    return merge(wall, cpu)


def _argv(json_path: Path, timer: str, max_time_s: float) -> list[str]:
    """Return the pytest command line of one pass of the benches, timed with timer."""
    return [
        sys.executable,
        "-m",
        "pytest",
        str(BENCH_DIR),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_benchmark.plugin",
        f"--benchmark-json={json_path}",
        f"--benchmark-timer={timer}",
        f"--benchmark-max-time={max_time_s}",
        "--benchmark-min-rounds=5",
        "--benchmark-warmup=on",
        "--benchmark-columns=min,median,mean,stddev,rounds",
    ]


def merge(
    wall: dict[str, dict[str, Any]], cpu: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Return the wall clock's figures by bench, each with the CPU clock's under "cpu" (None
    where the bench was not timed on it): summary.json's BenchFigures."""
    return {
        name: {
            **figures,
            "cpu": {k: v for k, v in cpu[name].items() if k != "group"} if name in cpu else None,
        }
        for name, figures in wall.items()
    }


def parse(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return median, mean, min, max, stddev and IQR in microseconds for each bench."""
    out: dict[str, dict[str, Any]] = {}
    for bench in data.get("benchmarks", []):
        stats = bench["stats"]
        out[bench["name"]] = {
            "group": bench.get("group"),
            "median_us": round(stats["median"] * 1e6, 3),
            "mean_us": round(stats["mean"] * 1e6, 3),
            "min_us": round(stats["min"] * 1e6, 3),
            "max_us": round(stats["max"] * 1e6, 3),
            "stddev_us": round(stats["stddev"] * 1e6, 3),
            "iqr_us": round(stats["iqr"] * 1e6, 3),
            "ops": round(stats["ops"], 1),
            "rounds": stats["rounds"],
        }
    return out
