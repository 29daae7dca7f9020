"""The open-loop HTTP/1.1 client of the robustness runs: raw requests, a keep-alive pool.

The overload and fault runs need a client that sends at a rate far above the server's
peak without itself becoming the bottleneck, and that sees exactly what came back on
each request (a status, a complete body, a connection closed early). Locust and httpx
are closed-loop or too heavy per request for that; this is one coroutine per request.
``drive`` sends at a fixed rate and counts every request once as ok, failed or timed out;
``peak`` measures a closed loop of concurrent users.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvloop

from loadtests.common.hdr import of_seconds
from loadtests.common.net import loopback
from loadtests.common.runfiles import TimelineRow
from loadtests.robustness.cases import VALID


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


TIMEOUT_S = 2.0  # a request not answered this long after its intended time is timed out
MAX_CONNECTIONS = 1024  # open at once; later requests wait (and their wait counts)
PEAK_CONCURRENCY = 16


def classify(exc: BaseException) -> str:
    """Name a failure briefly, for the error counts."""
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {str(exc)[:60]}"


def run(coro: Any) -> Any:
    """Run a coroutine on uvloop (the client must outrun the server)."""
    return uvloop.run(coro)


@dataclass
class Tally:
    """Every request of a run, each counted once by how it ended; double counts are kept."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    timed_out: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)  # of the ok requests
    timeline: list[tuple[float, str, float]] = field(default_factory=list)  # t, outcome, latency
    ended: set[int] = field(default_factory=set)  # ids of the requests that ended
    counted_twice: int = 0

    def start(self) -> int:
        """Count one request as sent; return its id."""
        self.sent += 1
        return self.sent

    def record(
        self, rid: int, outcome: str, intended: float, done: float, t0: float, detail: str
    ) -> None:
        """Count how request rid ended (a second ending of the same request is an error)."""
        if rid in self.ended:
            self.counted_twice += 1
            return
        self.ended.add(rid)
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome == "ok":
            self.latencies_s.append(done - intended)
        else:
            self.errors[detail] += 1
        self.timeline.append((round(intended - t0, 4), outcome, round(done - intended, 6)))

    @property
    def unaccounted(self) -> int:
        """Return how many sent requests have not ended (yet)."""
        return self.sent - len(self.ended)


async def _one(
    pool: Pool, request: Request, tally: Tally, rid: int, intended: float, t0: float, timeout: float
) -> None:
    """Send request rid, due at ``intended``, and count how it ended."""
    try:
        status, body = await asyncio.wait_for(
            pool.exchange(request), max(intended + timeout - time.perf_counter(), 0.001)
        )
    except TimeoutError:
        tally.record(rid, "timed_out", intended, time.perf_counter(), t0, "timeout")
    except (OSError, HttpError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.record(rid, "failed", intended, time.perf_counter(), t0, classify(exc))
    else:
        tally.statuses[str(status)] += 1
        outcome = "ok" if is_ok(request, status, body) else "failed"
        tally.record(rid, outcome, intended, time.perf_counter(), t0, f"status {status}")


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
    rid = tally.start()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        tally.record(rid, "failed", intended, time.perf_counter(), t0, classify(exc))
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
        detail = "in flight at the fault: timeout"
        tally.record(rid, "timed_out", intended, time.perf_counter(), t0, detail)
    except (OSError, HttpError, asyncio.IncompleteReadError, ValueError) as exc:
        detail = f"in flight at the fault: {classify(exc)}"
        tally.record(rid, "failed", intended, time.perf_counter(), t0, detail)
    else:
        tally.statuses[str(status)] += 1
        outcome = "ok" if is_ok(request, status, body) else "failed"
        detail = f"in flight at the fault: status {status}"
        tally.record(rid, outcome, intended, time.perf_counter(), t0, detail)
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
            rid = tally.start()
            task = asyncio.create_task(_one(pool, request, tally, rid, intended, t0, timeout))
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
    # A request that did not end by its own deadline and had to be cancelled by the guard
    # is a defect of this client: it is counted as timed out and the run is not balanced.
    unaccounted = tally.unaccounted
    if unaccounted:
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
        "balanced": unaccounted == 0
        and tally.counted_twice == 0
        and tally.sent == tally.ok + tally.failed + tally.timed_out,
        "unaccounted": unaccounted,
        "achieved_send_rate": round(tally.sent / elapsed, 1) if elapsed > 0 else None,
        "max_send_lag_s": round(lag, 4),
        "goodput": round(tally.ok / duration, 1),
        "statuses": dict(tally.statuses),
        "errors": dict(tally.errors.most_common(10)),
        "latency": of_seconds(tally.latencies_s),
        "client_cpu_s": round(time.process_time() - cpu0, 2),
        "drain_s": round(time.perf_counter() - end_of_sending, 3),
        "timeline": summarize_timeline(sorted(tally.timeline)),
    }


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
    return dict(run(_drive(base_url, rate, duration, timeout, connections, fault_at, fault)))


async def closed_loop(
    base_url: str, concurrency: int, duration: float
) -> tuple[int, int, list[float]]:
    """Run concurrent users back to back for duration s; return ok, failed, latencies."""
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
    ok, _, _ = run(closed_loop(base_url, concurrency, duration))
    return float(ok) / duration


def summarize_timeline(
    timeline: list[tuple[float, str, float]], step: float = 1.0
) -> list[TimelineRow]:
    """Fold the per-request timeline into one row per second: outcomes and p50/p99 latency."""
    rows: dict[int, dict[str, Any]] = {}
    for t, outcome, latency in timeline:
        row = rows.setdefault(int(t // step), {"ok": 0, "failed": 0, "timed_out": 0, "lat": []})
        row[outcome] += 1
        if outcome == "ok":
            row["lat"].append(latency)
    out = []
    for second, row in sorted(rows.items()):
        lat = of_seconds(row.pop("lat"))
        out.append(TimelineRow(t=second * step, **row, p50_ms=lat["p50_ms"], p99_ms=lat["p99_ms"]))
    return out
