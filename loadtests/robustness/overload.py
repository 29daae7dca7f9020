"""Overload and fault runs: drive a target past its peak, or kill its worker mid-run.

``python -m loadtests.robustness.overload --targets flask,fastapi --factor 2 --duration 30`` starts
each target (pinned to core 0), measures its peak (closed loop), its normal latency
(one request at a time), then sends requests at a fixed rate of ``factor`` x peak for
``duration`` seconds, open loop: each request has an intended send time, its latency is
counted from that time (no coordinated omission), and it ends as ok, failed or
timed-out, so ``sent == ok + failed + timed_out`` always. Afterwards it measures how long
the latency takes to return to normal. ``--fault-at`` kills the target's worker mid-run
instead; the server's own manager must replace it (gunicorn's master does; granian does
with ``--respawn-failed-workers``, as in the targets table): nothing here restarts it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadtests.common.hdr import of_seconds
from loadtests.common.net import health_ok, loopback, wait_until
from loadtests.common.procs import Managed, can_pin
from loadtests.common.runfiles import FaultResult, Latency, OverloadResult
from loadtests.common.servers import launch
from loadtests.robustness.client import (
    TIMEOUT_S,
    HttpError,
    Pool,
    closed_loop,
    drive,
    is_ok,
    peak,
    predict_request,
    run,
)
from loadtests.robustness.matrix import worker_pids
from loadtests.targets import DEFAULT_WORKERS, get_target

NORMAL_SAMPLES = 200
RECOVERY_WINDOW = 20  # consecutive normal requests that mark the recovery
RECOVERY_LIMIT_S = 30.0


def normal_latency(base_url: str, samples: int = NORMAL_SAMPLES) -> Latency:
    """Return the latency of one request at a time on an idle server."""
    run(closed_loop(base_url, 1, 0.3))  # warm up
    _, _, latencies = run(closed_loop(base_url, 1, 1.0))
    return Latency.model_validate(of_seconds(latencies[:samples]))


def normal_bound(normal: Latency) -> float:
    """Return the latency (ms) under which a request counts as normal again."""
    return max(3 * (normal.p99_ms or 0.0), (normal.p50_ms or 0.0) + 5.0)


def recovery_time(
    base_url: str, bound_ms: float, since: float, limit_s: float = RECOVERY_LIMIT_S
) -> float | None:
    """Return seconds from ``since`` (monotonic) until RECOVERY_WINDOW requests in a row were
    normal (ok and under bound_ms), or None if that did not happen within limit_s."""

    async def probe() -> float | None:
        host, port = loopback(base_url)
        request = predict_request(host, port)
        pool = Pool(host, port, 1)
        streak, streak_start = 0, time.monotonic()
        try:
            while time.monotonic() - since < limit_s:
                start = time.monotonic()
                try:
                    status, body = await asyncio.wait_for(pool.exchange(request), TIMEOUT_S)
                    normal = is_ok(request, status, body)
                except (TimeoutError, OSError, HttpError, asyncio.IncompleteReadError):
                    normal = False
                normal = normal and (time.monotonic() - start) * 1000 <= bound_ms
                if normal and streak == 0:
                    streak_start = start
                streak = streak + 1 if normal else 0
                if streak >= RECOVERY_WINDOW:
                    return max(0.0, streak_start - since)
                if not normal:
                    await asyncio.sleep(0.01)
            return None
        finally:
            pool.close()

    return run(probe())


def overload(
    base_url: str,
    *,
    factor: float = 2.0,
    duration: float = 30.0,
    rate: float | None = None,
    peak_duration: float = 3.0,
    timeout: float = TIMEOUT_S,
    is_alive: Callable[[], bool] | None = None,
    target: str | None = None,
) -> OverloadResult:
    """Measure peak and normal latency, drive at factor x peak (or rate), then recovery."""
    measured_peak = peak(base_url, peak_duration)
    normal = normal_latency(base_url)
    target_rate = rate if rate is not None else factor * measured_peak
    result = drive(base_url, target_rate, duration, timeout=timeout)
    since = time.monotonic() - result["drain_s"]  # when the last request was sent
    bound = normal_bound(normal)
    recovered = recovery_time(base_url, bound, since)
    achieved = result["achieved_send_rate"]
    return OverloadResult.model_validate(
        {
            **result,
            "target": target,
            "peak_rps": round(measured_peak, 1),
            "factor": factor if rate is None else round(target_rate / max(measured_peak, 1e-9), 2),
            "normal_latency": normal,
            "normal_bound_ms": round(bound, 3),
            "recovered_after_s": None if recovered is None else round(recovered, 3),
            "server_alive": is_alive() if is_alive is not None else True,
            "client_bound": achieved is not None and achieved < 0.95 * target_rate,
        }
    )


BRIEF_KEYS = (
    "peak_rps",
    "rate",
    "achieved_send_rate",
    "sent",
    "ok",
    "failed",
    "timed_out",
    "balanced",
    "recovered_after_s",
    "server_alive",
    "client_bound",
    "killed",
    "healthy_after",
)


def brief(result: OverloadResult | FaultResult) -> dict[str, Any]:
    """Return the figures of an overload or fault result worth a line of output."""
    data = result.model_dump()
    return {k: data[k] for k in BRIEF_KEYS if data.get(k) is not None}


def kill_worker(server: Managed) -> int:
    """SIGKILL one worker of the server by PID (for a single-process server, the server)."""
    pid = worker_pids(server.pid)[0]
    os.kill(pid, signal.SIGKILL)
    return pid


def fault_run(
    server: Managed,
    url: str,
    *,
    target: str,
    rate: float = 200.0,
    duration: float = 5.0,
    fault_at: float = 1.5,
    timeout: float = TIMEOUT_S,
) -> FaultResult:
    """Drive the server at a fixed rate and kill its worker fault_at seconds in.

    Nothing here restarts anything: whether a worker comes back is the server's own doing.
    """
    before = worker_pids(server.pid)
    killed: list[int] = []
    result = drive(
        url,
        rate,
        duration,
        timeout=timeout,
        fault_at=fault_at,
        fault=lambda: killed.append(kill_worker(server)),
    )
    healthy_after = wait_until(lambda: bool(worker_pids(server.pid)) and health_ok(url), 30.0)
    return FaultResult.model_validate(
        {
            **result,
            "target": target,
            "workers_before": before,
            "killed": killed,
            "workers_after": worker_pids(server.pid) if server.alive() else [],
            "server_pid_before": server.pid,
            "server_pid_after": server.pid if server.alive() else None,
            "healthy_after": healthy_after,
        }
    )


def main(argv: list[str] | None = None) -> int:
    """Run the overload (or fault) check against each chosen target; print and save JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.robustness.overload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--targets", default="flask,fastapi", help="comma-separated targets")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--factor", type=float, default=2.0, help="rate as a multiple of peak")
    parser.add_argument("--rate", type=float, default=None, help="fixed rate (overrides factor)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="per-request timeout")
    parser.add_argument(
        "--fault-at",
        type=float,
        default=None,
        help="kill the worker this many seconds in (fault run; rate default 200)",
    )
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="server workers")
    parser.add_argument("--cores", default="0", help="cores the server is pinned to")
    parser.add_argument("--out", type=Path, default=None, help="run folder for overload.json")
    args = parser.parse_args(argv)
    cores = [int(c) for c in args.cores.split(",") if c] or None
    if cores and can_pin() and len(os.sched_getaffinity(0)) > len(cores):
        os.sched_setaffinity(0, set(os.sched_getaffinity(0)) - set(cores))  # client elsewhere
    results: dict[str, OverloadResult | FaultResult] = {}
    for name in filter(None, args.targets.split(",")):
        log = args.out / "logs" / f"overload-{name}.log" if args.out else None
        server, url = launch(get_target(name), workers=args.workers, cores=cores, log_path=log)
        try:
            result: OverloadResult | FaultResult
            if args.fault_at is not None:
                result = fault_run(
                    server,
                    url,
                    target=name,
                    rate=args.rate or 200.0,
                    duration=args.duration,
                    fault_at=args.fault_at,
                    timeout=args.timeout,
                )
            else:
                result = overload(
                    url,
                    factor=args.factor,
                    duration=args.duration,
                    rate=args.rate,
                    timeout=args.timeout,
                    is_alive=server.alive,
                    target=name,
                )
        finally:
            server.stop()
        results[name] = result
        print(name, json.dumps(brief(result)), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = "fault" if args.fault_at is not None else "overload"
        path = args.out / f"{stem}.json"
        data = {name: r.model_dump(mode="json") for name, r in results.items()}
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print("wrote", path)
    return 0 if all(r.balanced for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
