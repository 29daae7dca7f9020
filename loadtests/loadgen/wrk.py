"""Cross-check peak throughput with wrk, an independent load generator written in C.

wrk does not check response bodies; it counts non-2xx answers (``errors.status``).
Its duration is whole seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadtests.common.procs import Ledger, Managed, ProcessError, Registry

MARKER = "FVF_JSON "

_LUA = """-- Written by loadtests/loadgen/wrk.py: the request wrk sends, a JSON summary at the end.
wrk.method = "{method}"
{body}
{content_type}
done = function(summary, latency, requests)
  io.write(string.format('{marker}{{"requests": %d, "duration_us": %d, "bytes": %d, '
    .. '"errors": {{"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}, '
    .. '"latency_us": {{"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p90": %d, '
    .. '"p99": %d, "p999": %d}}}}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured: its counts, throughput and latency (ms, wrk's own)."""

    connections: int
    duration_s: float
    requests: int
    rps: float
    non_2xx: int
    socket_errors: int
    mean_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        """Return the result as plain data (the figures of a phase)."""
        return asdict(self)


def available() -> bool:
    """Tell whether wrk is installed."""
    return shutil.which("wrk") is not None


def write_script(path: Path, method: str, body: bytes | None, content_type: str | None) -> Path:
    """Write the Lua script that makes wrk send this request and print a JSON summary."""
    text = body.decode("utf-8") if body else ""
    if "]==]" in text:
        raise ValueError("body cannot be embedded in a Lua long string")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        _LUA.format(
            method=method,
            body=f"wrk.body = [==[{text}]==]" if body else "",
            content_type=f'wrk.headers["Content-Type"] = "{content_type}"' if content_type else "",
            marker=MARKER,
        ),
        encoding="utf-8",
    )
    return path


def run(
    url: str,
    script: Path,
    *,
    connections: int,
    duration_s: float,
    cores: Sequence[int] | None,
    out_path: Path,
    ledger: Ledger,
    registry: Registry,
    on_start: Callable[[int], None] | None = None,
) -> WrkResult:
    """Run wrk (one thread) and return its figures; its whole output goes to out_path."""
    seconds = max(1, round(duration_s))
    argv = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(max(1, connections)),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "--script",
        str(script),
        url,
    ]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("wb") as out:
        proc = registry.add(
            Managed("wrk", "wrk", argv, cores=cores, ledger=ledger, stdout=out, log_path=None)
        )
        if on_start is not None:
            on_start(proc.pid)
        try:
            proc.popen.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            raise ProcessError("wrk did not finish in time") from None
        finally:
            registry.stop(proc)
    return parse(out_path.read_text(encoding="utf-8", errors="replace"), seconds, connections)


def parse(output: str, duration_s: float, connections: int) -> WrkResult:
    """Return the figures of wrk's output (the JSON line our script prints)."""
    line = next((ln for ln in output.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        raise ProcessError(f"wrk printed no summary:\n{output[-500:]}")
    raw = json.loads(line[len(MARKER) :])
    lat = raw["latency_us"]
    seconds = raw["duration_us"] / 1e6 or duration_s
    errors = raw["errors"]
    return WrkResult(
        connections=connections,
        duration_s=round(seconds, 3),
        requests=raw["requests"],
        rps=round(raw["requests"] / seconds, 1),
        non_2xx=errors["status"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        mean_ms=round(lat["mean"] / 1000, 3),
        min_ms=lat["min"] / 1000,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        p999_ms=lat["p999"] / 1000,
        max_ms=lat["max"] / 1000,
    )
