"""Run the in-process pytest-benchmark benches (benchmarks/) into the run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtests.common.procs import Ledger, Managed, ProcessError, Registry

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
TIMEOUT_S = 600.0


def run(
    json_path: Path,
    *,
    max_time_s: float,
    cores: Sequence[int] | None,
    log_path: Path,
    ledger: Ledger,
    registry: Registry,
) -> dict[str, dict[str, Any]]:
    """Run every bench pinned to the server cores; return the figures by test name."""
    # Only pytest-benchmark: the other installed plugins (schemathesis, playwright, ...)
    # cost seconds of imports and nothing here uses them.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    argv = [
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
        f"--benchmark-max-time={max_time_s}",
        "--benchmark-min-rounds=5",
        "--benchmark-warmup=on",
        "--benchmark-columns=min,median,mean,stddev,rounds",
    ]
    proc = registry.add(
        Managed(
            "bench",
            "pytest-benchmark",
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
        raise ProcessError(f"benches did not finish in {TIMEOUT_S:.0f}s") from None
    finally:
        registry.stop(proc)
    if code != 0 or not json_path.exists():
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
        raise ProcessError(f"benches failed (exit {code}); see {log_path}:\n" + "\n".join(tail))
    return parse(json.loads(json_path.read_text(encoding="utf-8")))


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
