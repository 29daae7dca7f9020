"""A cheap open-loop HTTP/1.1 client for POST /predict: Poisson arrivals, no coordinated omission.

Each request has an intended send time from a seeded Poisson schedule; its latency runs
from that time to the last byte of the answer, so a server (or a client) that falls behind
shows it in the figures instead of silently sending less. The client behaves like a real
one: a request with no idle connection connects and sends at once (no connection is
opened ahead and left silent), keep-alive connections are reused, a connection the server
closes is replaced by a new one for the next request, and at most ``max_connections`` are
open at once. Every request ends exactly once: ok (status 200 and exactly the expected
body), failed (another answer, or an error), or dropped (no answer within ``timeout_s`` of
its intended time, including one that never got a connection).

It is cheap because nothing is done per request that can be done once: the request bytes
are built once, connections are asyncio Protocols on uvloop (no coroutine, no stream per
request), the schedule wakes the loop through a Linux timerfd (microsecond precision where
the loop's own timers have millisecond precision), and the histograms are filled after the
step, out of the timed window.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import math
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import numpy as np
import uvloop

from loadtests.common.hdr import encode, new_histogram

WARMUP_S = 1.0
TIMEOUT_S = 2.0
MAX_CONNECTIONS = 512
START_SLACK_S = 0.05  # between building the step and its first intended send
SWEEP_S = 0.005  # how often requests past their deadline are dropped
IDLE_CLOSE_S = 2.0  # close a keep-alive connection idle this long, before the server does


def poisson_schedule(rate: float, duration_s: float, seed: int) -> np.ndarray:
    """Return the send offsets (s) of a Poisson process of ``rate`` per second over duration_s."""
    if rate <= 0 or duration_s <= 0:
        return np.empty(0)
    rng = np.random.default_rng(seed)
    expected = rate * duration_s
    chunk = int(expected + 10 * math.sqrt(expected) + 16)
    gaps = rng.exponential(1.0 / rate, size=chunk)
    offsets = np.cumsum(gaps)
    while offsets[-1] < duration_s:  # rare: draw more from the same stream
        more = np.cumsum(rng.exponential(1.0 / rate, size=chunk)) + offsets[-1]
        offsets = np.concatenate([offsets, more])
    return offsets[offsets < duration_s]


@dataclass
class StepResult:
    """One step of offered load: counts, latency figures (ms) and the generator's own cost."""

    offered_rps: float
    duration_s: float
    sent: int  # requests scheduled in the measured window (each ends as one of the three)
    ok: int
    failed: int  # a wrong answer or an error (refused, reset, closed before answering)
    dropped: int  # no answer within timeout_s of the intended time, or never got a connection
    achieved_rps: float  # ok answers per second of the window
    # From the intended send time to the last byte (ok answers only).
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    # From the actual write on a connection (or the connect) to the last byte.
    service_p50_ms: float | None
    service_p99_ms: float | None
    send_lag_p99_ms: float | None  # when the client took the request up, minus intended
    wait_p99_ms: float | None  # intended to actual send: lag plus waiting for a connection
    client_cpu_us_per_request: float | None
    client_cpu_percent: float  # of one core, the whole process, over the sending window
    connections_opened: int
    errors: dict[str, int] = field(default_factory=dict)
    latency_hdr: str = ""  # HdrHistogram (us), compressed base64
    service_hdr: str = ""
    balanced: bool = True  # sent == ok + failed + dropped and no request ended twice
    valid: bool = True  # set by the caller from the generator's CPU and send lag

    def as_dict(self) -> dict[str, Any]:
        """Return the result as plain data (for JSON)."""
        return asdict(self)


# --- the schedule's clock: a Linux timerfd on CLOCK_MONOTONIC (time.monotonic's clock) -----


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


class _TimerFd:
    """A one-shot absolute timer whose expiry makes a file descriptor readable."""

    CLOCK_MONOTONIC = 1
    TFD_NONBLOCK = 0o4000
    TFD_CLOEXEC = 0o2000000
    TFD_TIMER_ABSTIME = 1

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.timerfd_create(self.CLOCK_MONOTONIC, self.TFD_NONBLOCK | self.TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create")
        self.fd: int = fd
        self._spec = _Itimerspec()
        self._ref = ctypes.byref(self._spec)
        self._settime = self._libc.timerfd_settime

    def arm(self, when: float) -> None:
        """Fire at ``when`` (time.monotonic seconds); a past time fires at once."""
        ns = max(int(when * 1e9), 1)
        self._spec.it_value.tv_sec, self._spec.it_value.tv_nsec = divmod(ns, 1_000_000_000)
        self._settime(self.fd, self.TFD_TIMER_ABSTIME, self._ref, None)

    def clear(self) -> None:
        """Consume the expiry so the descriptor is no longer readable."""
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Release the descriptor."""
        os.close(self.fd)


def _timerfd() -> _TimerFd | None:
    try:
        return _TimerFd()
    except (OSError, AttributeError):
        return None


# --- requests, connections and one step -----------------------------------------------------


class _Req:
    """One scheduled request; ``outcome`` is set exactly once."""

    __slots__ = ("conn", "deadline", "intended", "measured", "outcome", "sent", "taken")

    def __init__(self, intended: float, measured: bool, deadline: float) -> None:
        self.intended = intended
        self.measured = measured
        self.deadline = deadline
        self.taken = 0.0  # when the client dispatched it
        self.sent = 0.0  # when it went on a connection (write, or connect then write)
        self.conn: _Conn | None = None
        self.outcome = ""


def parse_response(buf: bytes) -> tuple[int, int, bytes, bool] | None:
    """Parse one HTTP/1.1 response from the start of buf.

    Return (bytes used, status, body, keep-alive), None if more bytes are needed, or
    (-1, status, b"", False) when the body runs to the end of the connection.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].lower()
    status = int(head[9:12])
    keep = not head.startswith(b"http/1.0")
    i = head.find(b"\r\nconnection:")
    if i >= 0:
        j = head.find(b"\r\n", i + 2)
        value = head[i + 13 : j if j >= 0 else len(head)]
        keep = b"keep-alive" in value if not keep else b"close" not in value
    start = end + 4
    i = head.find(b"\r\ncontent-length:")
    if i >= 0:
        j = head.find(b"\r\n", i + 2)
        total = start + int(head[i + 17 : j if j >= 0 else len(head)])
        if len(buf) < total:
            return None
        return total, status, buf[start:total], keep
    if b"\r\ntransfer-encoding:" in head and b"chunked" in head:
        body, pos = b"", start
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(buf[pos:eol].split(b";")[0], 16)
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", eol)
                if buf[eol : eol + 4] == b"\r\n\r\n":
                    return eol + 4, status, body, keep
                if trailer_end < 0:
                    return None
                return trailer_end + 4, status, body, keep
            if len(buf) < eol + 2 + size + 2:
                return None
            body += buf[eol + 2 : eol + 2 + size]
            pos = eol + 2 + size + 2
    if status in (204, 304) or 100 <= status < 200:
        return start, status, b"", keep
    return -1, status, b"", False


class _Conn(asyncio.Protocol):
    """One connection: carries one request at a time, reports each answer to the step."""

    def __init__(self, step: _Step, req: _Req | None) -> None:
        self.step = step
        self.req: _Req | None = req
        self.spare = req is None  # opened ahead of need (the idle-pool experiment)
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.idle_since = 0.0
        self.is_idle = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = tcp = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        req = self.req
        if self.spare:
            self.spare = False
            self.step.release(self)
            return
        if req is None or req.outcome:  # it timed out while we were connecting
            self.req = None
            tcp.close()
            return
        tcp.write(self.step.raw)

    def send(self, req: _Req) -> None:
        """Write req on this (idle, open) connection."""
        assert self.transport is not None
        self.req = req
        req.conn = self
        req.sent = time.monotonic()
        self.transport.write(self.step.raw)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        req = self.req
        if req is None:  # bytes nobody asked for: the connection cannot be trusted
            self.buf = b""
            self._abort()
            return
        try:
            parsed = parse_response(buf)
        except ValueError:
            self.buf = b""
            self.req = None
            self.step.finish(req, "failed", "unparsable answer")
            self._abort()
            return
        if parsed is None:
            self.buf = buf
            return
        used, status, body, keep = parsed
        if used < 0:  # the body runs to the close
            self.buf = buf
            return
        self.buf = b""
        self.req = None
        self.step.answer(req, status, body)
        if keep and used == len(buf) and not self.lost:
            self.step.release(self)
        else:
            self.lost = True
            self.step.forget(self)
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        req, buf = self.req, self.buf
        self.req, self.buf = None, b""
        if req is not None and not req.outcome:
            parsed = None
            if buf:
                try:
                    parsed = parse_response(buf)
                except ValueError:
                    parsed = None
            if parsed is not None and parsed[0] < 0:
                start = buf.find(b"\r\n\r\n") + 4
                self.step.answer(req, parsed[1], buf[start:])
            elif exc is not None:
                self.step.finish(req, "failed", type(exc).__name__)
            else:
                self.step.finish(req, "failed", "closed before the answer")
        self.lost = True
        self.step.closed(self)

    def _abort(self) -> None:
        self.lost = True
        self.step.forget(self)
        if self.transport is not None:
            self.transport.abort()


class _Step:
    """Everything one run_step needs: the schedule, the connections, the tallies."""

    def __init__(
        self,
        host: str,
        port: int,
        raw: bytes,
        expected: bytes,
        offsets: list[float],
        warmup_s: float,
        timeout_s: float,
        max_connections: int,
        idle_pool: int,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.host, self.port = host, port
        self.raw, self.expected = raw, expected
        self.offsets = offsets
        self.warmup_s = warmup_s
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.idle_pool = idle_pool
        self.idle: list[_Conn] = []  # LIFO: the warmest connection first
        self.open = 0  # connecting or connected, not yet lost
        self.opened = 0
        self.busy_or_idle: set[_Conn] = set()
        self.waiting: deque[_Req] = deque()  # dispatched, no connection yet
        self.pending: deque[_Req] = deque()  # every dispatched request, in deadline order
        self.next = 0
        self.unfinished = 0
        self.sent = self.ok = self.failed = self.dropped = self.ended_twice = 0
        self.errors: Counter[str] = Counter()
        self.latency: list[float] = []
        self.service: list[float] = []
        self.lag: list[float] = []
        self.wait: list[float] = []
        self.connect_tasks: set[asyncio.Task[None]] = set()
        self.all_sent = self.loop.create_future()
        self.all_done = self.loop.create_future()
        self.timer = _timerfd()
        self.handle: asyncio.TimerHandle | None = None
        self.cpu_window: list[float] = []  # process CPU and wall time at window start and end
        self.t0 = 0.0

    # -- schedule

    def start(self) -> None:
        """Begin sending at the schedule's times (now plus a small slack)."""
        self.t0 = time.monotonic() + START_SLACK_S
        self.offsets_abs = [self.t0 + o for o in self.offsets]
        self.window_start = self.t0 + self.warmup_s
        if self.timer is not None:
            self.loop.add_reader(self.timer.fd, self._tick)
        self._sweep_handle = self.loop.call_later(SWEEP_S, self._sweep)
        for _ in range(self.idle_pool):
            self._connect(None)
        if not self.offsets_abs:
            self.cpu_window = [time.process_time(), time.monotonic()] * 2
            self.all_sent.set_result(None)
            self._check_done()
            return
        self._arm(self.offsets_abs[0])

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.arm(when)
        else:
            self.handle = self.loop.call_at(
                self.loop.time() + (when - time.monotonic()), self._tick
            )

    def _tick(self) -> None:
        if self.timer is not None:
            self.timer.clear()
        offsets, n, i = self.offsets_abs, len(self.offsets_abs), self.next
        now = time.monotonic()
        window_start, timeout = self.window_start, self.timeout_s
        while i < n and offsets[i] <= now:
            intended = offsets[i]
            measured = intended >= window_start
            if measured and not self.cpu_window:
                self.cpu_window = [time.process_time(), now]
            req = _Req(intended, measured, intended + timeout)
            req.taken = now
            if measured:
                self.sent += 1
            self.unfinished += 1
            self.pending.append(req)
            self._dispatch(req)
            i += 1
        self.next = i
        if i < n:
            self._arm(offsets[i])
        elif not self.all_sent.done():
            if not self.cpu_window:
                self.cpu_window = [time.process_time(), now]
            self.cpu_window += [time.process_time(), time.monotonic()]
            if self.timer is not None:
                self.loop.remove_reader(self.timer.fd)
            self.all_sent.set_result(None)

    def _dispatch(self, req: _Req) -> None:
        if self.idle:
            conn = self.idle.pop()
            conn.is_idle = False
            conn.send(req)
        elif self.open < self.max_connections:
            req.sent = time.monotonic()
            self._connect(req)
        else:
            self.waiting.append(req)

    def _connect(self, req: _Req | None) -> None:
        self.open += 1
        self.opened += 1
        conn = _Conn(self, req)
        if req is not None:
            req.conn = conn
        self.busy_or_idle.add(conn)
        task = self.loop.create_task(self._open(conn))
        self.connect_tasks.add(task)
        task.add_done_callback(self.connect_tasks.discard)

    async def _open(self, conn: _Conn) -> None:
        try:
            await self.loop.create_connection(lambda: conn, self.host, self.port)
        except OSError as exc:
            req, conn.req = conn.req, None
            if req is not None and not req.outcome:
                self.finish(req, "failed", type(exc).__name__)
            conn.lost = True
            self.closed(conn)

    # -- connections

    def release(self, conn: _Conn) -> None:
        """Take the next waiting request on conn, or keep it idle."""
        while self.waiting:
            req = self.waiting.popleft()
            if not req.outcome:
                conn.send(req)
                return
        conn.idle_since = time.monotonic()
        conn.is_idle = True
        self.idle.append(conn)

    def forget(self, conn: _Conn) -> None:
        """Take conn out of the idle list (it is closing)."""
        if conn.is_idle:
            conn.is_idle = False
            self.idle.remove(conn)

    def closed(self, conn: _Conn) -> None:
        """Account for a lost connection; give its slot to a waiting request."""
        if conn not in self.busy_or_idle:
            return
        self.busy_or_idle.discard(conn)
        self.forget(conn)
        self.open -= 1
        while self.waiting and self.open < self.max_connections:
            req = self.waiting.popleft()
            if not req.outcome:
                req.sent = time.monotonic()
                self._connect(req)
        if self.idle_pool and not self.all_sent.done():
            # The experiment's idle pool: keep idle_pool connections open ahead of need.
            while len(self.idle) + self._connecting() < self.idle_pool and (
                self.open < self.max_connections
            ):
                self._connect(None)
        self._check_done()

    def _connecting(self) -> int:
        return sum(1 for c in self.busy_or_idle if c.transport is None and c.req is None)

    # -- outcomes

    def answer(self, req: _Req, status: int, body: bytes) -> None:
        """Count an answer as ok (exactly 200 and the expected body) or failed."""
        if status == 200 and body == self.expected:
            self.finish(req, "ok", "")
        else:
            self.finish(req, "failed", f"status {status}" if status != 200 else "wrong body")

    def finish(self, req: _Req, outcome: str, detail: str) -> None:
        """End req once as ok, failed or dropped."""
        if req.outcome:
            self.ended_twice += req.measured
            return
        req.outcome = outcome
        self.unfinished -= 1
        if req.measured:
            now = time.monotonic()
            if outcome == "ok":
                self.ok += 1
                self.latency.append(now - req.intended)
                self.service.append(now - req.sent)
            elif outcome == "failed":
                self.failed += 1
                self.errors[detail] += 1
            else:
                self.dropped += 1
                self.errors[detail] += 1
            self.lag.append(req.taken - req.intended)
            if req.sent:
                self.wait.append(req.sent - req.intended)
        self._check_done()

    def _sweep(self) -> None:
        now = time.monotonic()
        pending = self.pending
        while pending and (pending[0].outcome or pending[0].deadline <= now):
            req = pending.popleft()
            if req.outcome:
                continue
            conn = req.conn
            if conn is None:
                detail = "no connection in time"
            elif conn.transport is None:
                detail = "timeout while connecting"
            else:
                detail = "timeout"
            self.finish(req, "dropped", detail)
            if conn is not None and conn.req is req:
                conn.req = None  # its late answer must not be read as the next one's
                conn._abort()
        for conn in list(self.idle):
            if now - conn.idle_since > IDLE_CLOSE_S and not self.idle_pool:
                self.forget(conn)
                conn.lost = True
                if conn.transport is not None:
                    conn.transport.close()
        if not self.all_done.done():
            self._sweep_handle = self.loop.call_later(SWEEP_S, self._sweep)

    def _check_done(self) -> None:
        if self.unfinished == 0 and self.all_sent.done() and not self.all_done.done():
            self.all_done.set_result(None)

    def close(self) -> None:
        """Close every connection and the timer."""
        self._sweep_handle.cancel()
        if self.handle is not None:
            self.handle.cancel()
        for task in self.connect_tasks:
            task.cancel()
        for conn in list(self.busy_or_idle):
            conn.lost = True
            if conn.transport is not None:
                conn.transport.close()
        if self.timer is not None:
            if not self.all_sent.done():
                self.loop.remove_reader(self.timer.fd)
            self.timer.close()


def build_request(host: str, port: int, body: bytes, path: str = "/predict") -> bytes:
    """Return POST path with a JSON body as raw HTTP/1.1 (one write)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _figures(values_s: list[float]) -> tuple[Any, dict[str, float | None]]:
    """Fill a histogram (us) from seconds in one pass over the distinct values."""
    histogram = new_histogram()
    if values_s:
        micros = np.clip(np.rint(np.asarray(values_s) * 1e6), 1, 60_000_000).astype(np.int64)
        distinct, counts = np.unique(micros, return_counts=True)
        for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
            histogram.record_value(value, count)
    if histogram.get_total_count() == 0:
        return histogram, dict.fromkeys(("p50", "p90", "p99", "p999", "max"))
    values = histogram.get_percentile_to_value_dict([50.0, 90.0, 99.0, 99.9])
    out = {
        "p50": values[50.0] / 1000,
        "p90": values[90.0] / 1000,
        "p99": values[99.0] / 1000,
        "p999": values[99.9] / 1000,
        "max": histogram.get_max_value() / 1000,
    }
    return histogram, {k: round(v, 3) for k, v in out.items()}


async def _run(
    url: str,
    offsets: list[float],
    rate: float,
    duration_s: float,
    body: bytes,
    expected: bytes,
    warmup_s: float,
    timeout_s: float,
    max_connections: int,
    idle_pool: int,
) -> StepResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    raw = build_request(host, port, body)
    step = _Step(
        host, port, raw, expected, offsets, warmup_s, timeout_s, max_connections, idle_pool
    )
    step.start()
    try:
        await step.all_sent
        # Every request has a deadline the sweep enforces, so this ends; the bound is a guard.
        await asyncio.wait_for(asyncio.shield(step.all_done), timeout_s + 5.0)
    finally:
        step.close()
        await asyncio.sleep(0)  # let the transports run their connection_lost
    cpu0, wall0, cpu1, wall1 = step.cpu_window or (0.0, 0.0, 0.0, 0.0)
    cpu, wall = cpu1 - cpu0, wall1 - wall0
    hist, lat = _figures(step.latency)
    service_hist, service = _figures(step.service)
    _, lag = _figures(step.lag)
    _, wait = _figures(step.wait)
    return StepResult(
        offered_rps=rate,
        duration_s=duration_s,
        sent=step.sent,
        ok=step.ok,
        failed=step.failed,
        dropped=step.dropped,
        achieved_rps=round(step.ok / duration_s, 1) if duration_s > 0 else 0.0,
        p50_ms=lat["p50"],
        p90_ms=lat["p90"],
        p99_ms=lat["p99"],
        p999_ms=lat["p999"],
        max_ms=lat["max"],
        service_p50_ms=service["p50"],
        service_p99_ms=service["p99"],
        send_lag_p99_ms=lag["p99"],
        wait_p99_ms=wait["p99"],
        client_cpu_us_per_request=round(cpu / step.sent * 1e6, 1) if step.sent else None,
        client_cpu_percent=round(100 * cpu / wall, 1) if wall > 0 else 0.0,
        connections_opened=step.opened,
        errors=dict(step.errors.most_common(10)),
        latency_hdr=encode(hist),
        service_hdr=encode(service_hist),
        balanced=step.sent == step.ok + step.failed + step.dropped and step.ended_twice == 0,
    )


def run_step(
    url: str,
    rate: float,
    duration_s: float,
    *,
    body: bytes,
    expected: bytes,
    seed: int = 0,
    warmup_s: float = WARMUP_S,
    timeout_s: float = TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
    idle_pool: int = 0,
) -> StepResult:
    """Offer POST /predict at ``rate`` (Poisson) for warmup_s + duration_s; measure the window.

    Runs a fresh uvloop in the caller's thread (pin that thread to the generator's core
    beforehand). ``idle_pool`` > 0 keeps that many connections open ahead of need, as a
    badly behaved client does; it exists for the gunicorn experiment, not for the bench.
    """
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    offsets = poisson_schedule(rate, warmup_s + duration_s, seed).tolist()
    enabled = gc.isenabled()
    gc.disable()  # a collection pause would show up as send lag
    try:
        result: StepResult = uvloop.run(
            _run(
                url,
                offsets,
                rate,
                duration_s,
                body,
                expected,
                warmup_s,
                timeout_s,
                max_connections,
                idle_pool,
            )
        )
    finally:
        if enabled:
            gc.enable()
        gc.collect()
    if not result.balanced:
        raise RuntimeError(
            f"request accounting broken: sent {result.sent} != ok {result.ok} + failed "
            f"{result.failed} + dropped {result.dropped}"
        )
    return result


def validity(
    result: StepResult, max_cpu_percent: float = 70.0, max_lag_ms: float = 1.0
) -> tuple[bool, str]:
    """Tell whether the generator kept up (CPU and send lag within bounds), and why not."""
    reasons = []
    if result.client_cpu_percent > max_cpu_percent:
        reasons.append(f"generator at {result.client_cpu_percent:.0f}% of its core")
    if result.send_lag_p99_ms is not None and result.send_lag_p99_ms > max_lag_ms:
        reasons.append(f"send lag p99 {result.send_lag_p99_ms:.2f} ms")
    return not reasons, "; ".join(reasons)


Measure = Callable[[float], StepResult]
