"""Overload and fault runs: drive a target past its peak, or kill its worker mid-run.

``python -m loadtests.robustness.overload --targets flask,fastapi --factor 2 --duration 30`` starts
each target (pinned to core 0), measures its peak (closed loop), its normal latency
(one request at a time), then sends requests at a fixed rate of ``factor`` x peak for
``duration`` seconds, open loop: each request has an intended send time, its latency is
counted from that time (no coordinated omission), and it ends as ok, failed or
timed-out, so ``sent == ok + failed + timed_out`` always. Afterwards it measures how long
the latency takes to return to normal. ``--fault-at`` kills the target's worker mid-run
instead; a ``Supervisor`` restarts a server whose master exits (granian does, unless
told to respawn workers; gunicorn's master respawns its worker itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.common.procs import Managed, can_pin, free_port
from loadtests.common.servers import READY_TIMEOUT_S, launch
from loadtests.robustness.cases import VALID
from loadtests.robustness.matrix import health_ok, loopback, worker_pids
from loadtests.targets import DEFAULT_WORKERS, Target, get_target

TIMEOUT_S = 2.0  # a request not answered this long after its intended time is timed out
MAX_CONNECTIONS = 1024  # open at once; later requests wait (and their wait counts)
PEAK_CONCURRENCY = 16
NORMAL_SAMPLES = 200
RECOVERY_WINDOW = 20  # consecutive normal requests that mark the recovery
RECOVERY_LIMIT_S = 30.0


@dataclass
class Tally:
    """Every request of a run, each counted exactly once by how it ended."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    timed_out: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)  # of the ok requests
    timeline: list[tuple[float, str, float]] = field(default_factory=list)  # t, outcome, latency

    def record(self, outcome: str, intended: float, done: float, t0: float, detail: str) -> None:
        """Count one finished request."""
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome == "ok":
            self.latencies_s.append(done - intended)
        else:
            self.errors[detail] += 1
        self.timeline.append((round(intended - t0, 4), outcome, round(done - intended, 6)))

    @property
    def balanced(self) -> bool:
        """Tell whether every sent request is accounted for."""
        return self.sent == self.ok + self.failed + self.timed_out


class HttpError(Exception):
    """The server answered something that is not HTTP/1.1 we understand, or closed early."""


@dataclass(frozen=True)
class Request:
    """One request ready to write, and the exact answer that counts as a success."""

    raw: bytes
    expected_status: int = 200
    expected_keys: frozenset[str] = frozenset({"prediction", "label", "probability"})


def predict_request(host: str, port: int, body: bytes = VALID.body) -> Request:
    """Return POST /predict with the example body, as raw HTTP/1.1."""
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return Request(head.encode() + body)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one response; return status, body and whether the connection may be reused."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise HttpError("connection closed before an answer") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HttpError(f"bad status line {lines[0][:40]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip() or b"0", 16):
            body += await reader.readexactly(size + 2)
            body = body[:-2]
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.read()
        return int(parts[1]), body, False
    return int(parts[1]), body, headers.get("connection") != "close"


def is_ok(request: Request, status: int, body: bytes) -> bool:
    """Tell whether an answer is the expected success (status and a complete JSON body)."""
    if status != request.expected_status:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and request.expected_keys <= set(data)


class Pool:
    """Keep-alive connections to one server, at most ``limit`` open at once."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port = host, port
        self.slots = asyncio.Semaphore(limit)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def exchange(self, request: Request) -> tuple[int, bytes]:
        """Send one request on an idle connection (or a new one); return status and body."""
        async with self.slots:
            reader, writer = self.idle.pop() if self.idle else await self._open()
            reuse = False
            try:
                writer.write(request.raw)
                await writer.drain()
                status, body, reuse = await read_response(reader)
                return status, body
            finally:
                if reuse:
                    self.idle.append((reader, writer))
                else:
                    writer.close()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        """Close every idle connection."""
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def _classify(exc: BaseException) -> str:
    """Name a failure briefly, for the error counts."""
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {str(exc)[:60]}"


async def _one(
    pool: Pool, request: Request, tally: Tally, intended: float, t0: float, timeout: float
) -> None:
    """Send one request due at ``intended`` and count how it ended."""
    try:
        status, body = await asyncio.wait_for(
            pool.exchange(request), max(intended + timeout - time.perf_counter(), 0.001)
        )
    except TimeoutError:
        tally.record("timed_out", intended, time.perf_counter(), t0, "timeout")
    except (OSError, HttpError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.record("failed", intended, time.perf_counter(), t0, _classify(exc))
    else:
        tally.statuses[str(status)] += 1
        outcome = "ok" if is_ok(request, status, body) else "failed"
        tally.record(outcome, intended, time.perf_counter(), t0, f"status {status}")


async def _probe_in_flight(
    host: str,
    port: int,
    request: Request,
    tally: Tally,
    t0: float,
    fault: Callable[[], Any],
    timeout: float,
) -> None:
    """Start a request, hold it half-sent while the fault strikes, then finish and count it."""
    loop = asyncio.get_running_loop()
    intended = time.perf_counter()
    tally.sent += 1
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        tally.record("failed", intended, time.perf_counter(), t0, _classify(exc))
        await loop.run_in_executor(None, fault)
        return
    try:
        half = len(request.raw) - 10
        writer.write(request.raw[:half])
        await writer.drain()
        await asyncio.sleep(0.2)  # the worker is now reading this request
        await loop.run_in_executor(None, fault)
        writer.write(request.raw[half:])
        await writer.drain()
        status, body, _ = await asyncio.wait_for(read_response(reader), timeout)
    except TimeoutError:
        tally.record(
            "timed_out", intended, time.perf_counter(), t0, "in flight at the fault: timeout"
        )
    except (OSError, HttpError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.record(
            "failed", intended, time.perf_counter(), t0, f"in flight at the fault: {_classify(exc)}"
        )
    else:
        tally.statuses[str(status)] += 1
        outcome = "ok" if is_ok(request, status, body) else "failed"
        tally.record(
            outcome, intended, time.perf_counter(), t0, f"in flight at the fault: status {status}"
        )
    finally:
        writer.close()


async def _drive(
    base_url: str,
    rate: float,
    duration: float,
    timeout: float,
    connections: int,
    fault_at: float | None,
    fault: Callable[[], Any] | None,
) -> dict[str, Any]:
    host, port = loopback(base_url)
    request = predict_request(host, port)
    pool, tally = Pool(host, port, connections), Tally()
    total = int(rate * duration)
    tasks: set[asyncio.Task[None]] = set()
    t0 = time.perf_counter() + 0.05
    cpu0 = time.process_time()
    lag = 0.0
    while tally.sent < total:
        now = time.perf_counter()
        due = min(total, int((now - t0) * rate) + 1)
        if due > tally.sent:
            lag = max(lag, now - (t0 + tally.sent / rate))
        while tally.sent < due:
            intended = t0 + tally.sent / rate
            tally.sent += 1
            task = asyncio.create_task(_one(pool, request, tally, intended, t0, timeout))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if fault is not None and fault_at is not None and now - t0 >= fault_at:
            probe = asyncio.create_task(
                _probe_in_flight(host, port, request, tally, t0, fault, timeout)
            )
            tasks.add(probe)
            probe.add_done_callback(tasks.discard)
            fault = None
        await asyncio.sleep(min(0.002, max(0.0, t0 + tally.sent / rate - time.perf_counter())))
    end_of_sending = time.perf_counter()
    # Every request has its own deadline, so this ends; the bound is a second guard.
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=timeout + 10.0)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    unaccounted = tally.sent - (tally.ok + tally.failed + tally.timed_out)
    if unaccounted:  # cancelled by the guard above: they did not succeed
        tally.timed_out += unaccounted
        tally.errors["cancelled after the run"] += unaccounted
    pool.close()
    elapsed = end_of_sending - t0
    return {
        "rate": rate,
        "duration_s": duration,
        "timeout_s": timeout,
        "connections": connections,
        "sent": tally.sent,
        "ok": tally.ok,
        "failed": tally.failed,
        "timed_out": tally.timed_out,
        "balanced": tally.balanced,
        "achieved_send_rate": round(tally.sent / elapsed, 1) if elapsed > 0 else None,
        "max_send_lag_s": round(lag, 4),
        "goodput": round(tally.ok / duration, 1),
        "statuses": dict(tally.statuses),
        "errors": dict(tally.errors.most_common(10)),
        "latency_ms": percentiles(tally.latencies_s),
        "client_cpu_s": round(time.process_time() - cpu0, 2),
        "drain_s": round(time.perf_counter() - end_of_sending, 3),
        "timeline": sorted(tally.timeline),
    }


def _run(coro: Any) -> Any:
    """Run a coroutine on uvloop when available (the client must outrun the server)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def drive(
    base_url: str,
    rate: float,
    duration: float,
    *,
    timeout: float = TIMEOUT_S,
    connections: int = MAX_CONNECTIONS,
    fault_at: float | None = None,
    fault: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Send POST /predict at a fixed rate for duration seconds (open loop); count every request.

    With ``fault``, call it (in a thread) ``fault_at`` seconds in, while one extra request
    is held half-sent, so at least one request is in flight when the fault strikes.
    """
    return dict(_run(_drive(base_url, rate, duration, timeout, connections, fault_at, fault)))


async def _closed_loop(
    base_url: str, concurrency: int, duration: float
) -> tuple[int, int, list[float]]:
    host, port = loopback(base_url)
    request = predict_request(host, port)
    pool = Pool(host, port, concurrency)
    end = time.perf_counter() + duration
    latencies: list[float] = []
    failed = 0

    async def user() -> None:
        nonlocal failed
        while time.perf_counter() < end:
            start = time.perf_counter()
            try:
                status, body = await asyncio.wait_for(pool.exchange(request), TIMEOUT_S)
            except (TimeoutError, OSError, HttpError, asyncio.IncompleteReadError):
                failed += 1
                continue
            if is_ok(request, status, body):
                latencies.append(time.perf_counter() - start)
            else:
                failed += 1

    await asyncio.gather(*(user() for _ in range(concurrency)))
    pool.close()
    return len(latencies), failed, latencies


def peak(base_url: str, duration: float = 3.0, concurrency: int = PEAK_CONCURRENCY) -> float:
    """Return the peak rate (ok requests per second) of a closed loop of concurrent users."""
    ok, _, _ = _run(_closed_loop(base_url, concurrency, duration))
    return float(ok) / duration


def normal_latency(base_url: str, samples: int = NORMAL_SAMPLES) -> dict[str, float]:
    """Return the latency percentiles of one request at a time on an idle server."""
    _run(_closed_loop(base_url, 1, 0.3))  # warm up
    _, _, latencies = _run(_closed_loop(base_url, 1, 1.0))
    return percentiles(latencies[:samples] if len(latencies) > samples else latencies)


def normal_bound(normal: dict[str, float]) -> float:
    """Return the latency (ms) under which a request counts as normal again."""
    return max(3 * normal["p99"], normal["p50"] + 5.0)


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

    return _run(probe())


def percentiles(latencies_s: Sequence[float]) -> dict[str, float]:
    """Return p50/p90/p99/max of latencies, in milliseconds (empty: zeros)."""
    if not latencies_s:
        return {"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(latencies_s)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {
        "count": len(ordered),
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": round(ordered[-1] * 1000, 3),
    }


def overload(
    base_url: str,
    *,
    factor: float = 2.0,
    duration: float = 30.0,
    rate: float | None = None,
    peak_duration: float = 3.0,
    timeout: float = TIMEOUT_S,
    is_alive: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Measure peak and normal latency, drive at factor x peak (or rate), then recovery."""
    measured_peak = peak(base_url, peak_duration)
    normal = normal_latency(base_url)
    target_rate = rate if rate is not None else factor * measured_peak
    run = drive(base_url, target_rate, duration, timeout=timeout)
    since = time.monotonic() - run["drain_s"]  # when the last request was sent
    bound = normal_bound(normal)
    recovered = recovery_time(base_url, bound, since)
    alive = is_alive() if is_alive is not None else True
    run["timeline"] = summarize_timeline(run["timeline"])
    return {
        "peak_rps": round(measured_peak, 1),
        "factor": factor if rate is None else round(target_rate / max(measured_peak, 1e-9), 2),
        "normal_latency_ms": normal,
        "normal_bound_ms": round(bound, 3),
        "recovered_after_s": None if recovered is None else round(recovered, 3),
        "server_alive": alive,
        "client_bound": run["achieved_send_rate"] is not None
        and run["achieved_send_rate"] < 0.95 * target_rate,
        **run,
    }


def summarize_timeline(
    timeline: list[tuple[float, str, float]], step: float = 1.0
) -> list[dict[str, Any]]:
    """Fold the per-request timeline into one row per second: outcomes and p50/p99 latency."""
    rows: dict[int, dict[str, Any]] = {}
    for t, outcome, latency in timeline:
        row = rows.setdefault(int(t // step), {"ok": 0, "failed": 0, "timed_out": 0, "lat": []})
        row[outcome] += 1
        if outcome == "ok":
            row["lat"].append(latency)
    out = []
    for second, row in sorted(rows.items()):
        lat = percentiles(row.pop("lat"))
        out.append({"t": second * step, **row, "p50_ms": lat["p50"], "p99_ms": lat["p99"]})
    return out


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
    "supervisor_restarts",
    "healthy_after",
)


def brief(result: dict[str, Any]) -> dict[str, Any]:
    """Return the figures of an overload or fault result worth a line of output."""
    return {k: result[k] for k in BRIEF_KEYS if result.get(k) is not None}


class Supervisor:
    """Keep one target running: start it, and start it again (same command, same port) if
    its main process exits. Every restart is recorded."""

    def __init__(
        self,
        target: Target,
        *,
        workers: int = DEFAULT_WORKERS,
        cores: Sequence[int] | None = (0,),
        log_path: Path | None = None,
    ) -> None:
        self.target, self.workers, self.cores, self.log_path = target, workers, cores, log_path
        self.host, self.port = "127.0.0.1", free_port()
        self.url = f"http://{self.host}:{self.port}"
        self.restarts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.proc = self._start()
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._watcher.start()

    def _start(self) -> Managed:
        proc, _ = launch(
            self.target,
            workers=self.workers,
            cores=self.cores,
            log_path=self.log_path,
            host=self.host,
            port=self.port,
        )
        return proc

    def _watch(self) -> None:
        while not self._stopping.wait(0.05):
            with self._lock:
                if self._stopping.is_set() or self.proc.alive():
                    continue
                exited = time.monotonic()
                code = self.proc.popen.returncode
                self.proc.stop(grace_s=1.0)  # reap it and any orphaned worker, by PID
                self.proc = self._start()
                self.restarts.append(
                    {
                        "exit_code": code,
                        "pid": self.proc.pid,
                        "restart_s": round(time.monotonic() - exited, 3),
                    }
                )

    def workers_now(self) -> list[int]:
        """Return the PIDs serving requests right now."""
        with self._lock:
            return worker_pids(self.proc.pid)

    def kill_worker(self) -> int:
        """SIGKILL one worker of the target by PID (for a single-process server, the server)."""
        pid = self.workers_now()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def alive(self) -> bool:
        """Tell whether the server process runs now."""
        return self.proc.alive()

    def stop(self) -> None:
        """Stop watching and stop the server (SIGTERM, then SIGKILL, by PID)."""
        self._stopping.set()
        self._watcher.join(timeout=READY_TIMEOUT_S + 5)
        with self._lock:
            self.proc.stop()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fault_run(
    sup: Supervisor,
    *,
    rate: float = 200.0,
    duration: float = 5.0,
    fault_at: float = 1.5,
    timeout: float = TIMEOUT_S,
) -> dict[str, Any]:
    """Drive sup's target at a fixed rate and kill its worker fault_at seconds in."""
    before = sup.workers_now()
    killed: list[int] = []
    run = drive(
        sup.url,
        rate,
        duration,
        timeout=timeout,
        fault_at=fault_at,
        fault=lambda: killed.append(sup.kill_worker()),
    )
    healthy_after = wait_for(lambda: bool(sup.workers_now()) and _health(sup.url), 30.0)
    run["timeline"] = summarize_timeline(run["timeline"])
    return {
        "target": sup.target.name,
        "workers_before": before,
        "killed": killed,
        "workers_after": sup.workers_now(),
        "supervisor_restarts": list(sup.restarts),
        "healthy_after": healthy_after,
        **run,
    }


def _health(base_url: str) -> bool:
    return health_ok(*loopback(base_url))


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll condition every 0.1 s until it holds or timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if condition():
                return True
        time.sleep(0.1)
    return False


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
    results: dict[str, Any] = {}
    for name in filter(None, args.targets.split(",")):
        log = args.out / "logs" / f"overload-{name}.log" if args.out else None
        with Supervisor(get_target(name), workers=args.workers, cores=cores, log_path=log) as sup:
            if args.fault_at is not None:
                result = fault_run(
                    sup,
                    rate=args.rate or 200.0,
                    duration=args.duration,
                    fault_at=args.fault_at,
                    timeout=args.timeout,
                )
            else:
                result = overload(
                    sup.url,
                    factor=args.factor,
                    duration=args.duration,
                    rate=args.rate,
                    timeout=args.timeout,
                    is_alive=sup.alive,
                )
                result["supervisor_restarts"] = list(sup.restarts)
        results[name] = result
        print(name, json.dumps(brief(result)), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = "fault" if args.fault_at is not None else "overload"
        path = args.out / f"{stem}.json"
        path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print("wrote", path)
    return 0 if all(r["balanced"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
