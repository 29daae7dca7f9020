"""One step of offered load: the schedule sends, connections are pooled, every request ends once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque

from loadtests.loadgen.openloop._clock import Clock
from loadtests.loadgen.openloop._conn import Conn, Req

START_SLACK_S = 0.05  # between building the step and its first intended send
SWEEP_S = 0.005  # how often requests past their deadline are dropped
IDLE_CLOSE_S = 2.0  # close a keep-alive connection idle this long, before the server does


class Step:
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
        self.idle: list[Conn] = []  # LIFO: the warmest connection first
        self.open = 0  # connecting or connected, not yet lost
        self.opened = 0
        self.busy_or_idle: set[Conn] = set()
        self.waiting: deque[Req] = deque()  # dispatched, no connection yet
        self.pending: deque[Req] = deque()  # every dispatched request, in deadline order
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
        self.clock = Clock(self.loop, self._tick)
        self.cpu_window: list[float] = []  # process CPU and wall time at window start and end
        self.t0 = 0.0

    # -- schedule

    def start(self) -> None:
        """Begin sending at the schedule's times (now plus a small slack)."""
        self.t0 = time.monotonic() + START_SLACK_S
        self.offsets_abs = [self.t0 + o for o in self.offsets]
        self.window_start = self.t0 + self.warmup_s
        self.clock.start()
        self._sweep_handle = self.loop.call_later(SWEEP_S, self._sweep)
        for _ in range(self.idle_pool):
            self._connect(None)
        if not self.offsets_abs:
            self.cpu_window = [time.process_time(), time.monotonic()] * 2
            self.all_sent.set_result(None)
            self._check_done()
            return
        self.clock.arm(self.offsets_abs[0])

    def _tick(self) -> None:
        offsets, n, i = self.offsets_abs, len(self.offsets_abs), self.next
        now = time.monotonic()
        window_start, timeout = self.window_start, self.timeout_s
        while i < n and offsets[i] <= now:
            intended = offsets[i]
            measured = intended >= window_start
            if measured and not self.cpu_window:
                self.cpu_window = [time.process_time(), now]
            req = Req(intended, measured, intended + timeout)
            req.taken = now
            if measured:
                self.sent += 1
            self.unfinished += 1
            self.pending.append(req)
            self._dispatch(req)
            i += 1
        self.next = i
        if i < n:
            self.clock.arm(offsets[i])
        elif not self.all_sent.done():
            if not self.cpu_window:
                self.cpu_window = [time.process_time(), now]
            self.cpu_window += [time.process_time(), time.monotonic()]
            self.clock.stop()
            self.all_sent.set_result(None)

    def _dispatch(self, req: Req) -> None:
        if self.idle:
            conn = self.idle.pop()
            conn.is_idle = False
            conn.send(req)
        elif self.open < self.max_connections:
            req.sent = time.monotonic()
            self._connect(req)
        else:
            self.waiting.append(req)

    def _connect(self, req: Req | None) -> None:
        self.open += 1
        self.opened += 1
        conn = Conn(self, req)
        if req is not None:
            req.conn = conn
        self.busy_or_idle.add(conn)
        task = self.loop.create_task(self._open(conn))
        self.connect_tasks.add(task)
        task.add_done_callback(self.connect_tasks.discard)

    async def _open(self, conn: Conn) -> None:
        try:
            await self.loop.create_connection(lambda: conn, self.host, self.port)
        except OSError as exc:
            req, conn.req = conn.req, None
            if req is not None and not req.outcome:
                self.finish(req, "failed", type(exc).__name__)
            conn.lost = True
            self.closed(conn)

    # -- connections

    def release(self, conn: Conn) -> None:
        """Take the next waiting request on conn, or keep it idle."""
        while self.waiting:
            req = self.waiting.popleft()
            if not req.outcome:
                conn.send(req)
                return
        conn.idle_since = time.monotonic()
        conn.is_idle = True
        self.idle.append(conn)

    def forget(self, conn: Conn) -> None:
        """Take conn out of the idle list (it is closing)."""
        if conn.is_idle:
            conn.is_idle = False
            self.idle.remove(conn)

    def closed(self, conn: Conn) -> None:
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

    def answer(self, req: Req, status: int, body: bytes) -> None:
        """Count an answer as ok (exactly 200 and the expected body) or failed."""
        if status == 200 and body == self.expected:
            self.finish(req, "ok", "")
        else:
            self.finish(req, "failed", f"status {status}" if status != 200 else "wrong body")

    def finish(self, req: Req, outcome: str, detail: str) -> None:
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
                conn.abort()
        for conn in list(self.idle):
            if now - conn.idle_since > IDLE_CLOSE_S and not self.idle_pool:
                self.forget(conn)
                conn.close()
        if not self.all_done.done():
            self._sweep_handle = self.loop.call_later(SWEEP_S, self._sweep)

    def _check_done(self) -> None:
        if self.unfinished == 0 and self.all_sent.done() and not self.all_done.done():
            self.all_done.set_result(None)

    def close(self) -> None:
        """Close every connection and the clock."""
        self._sweep_handle.cancel()
        for task in self.connect_tasks:
            task.cancel()
        for conn in list(self.busy_or_idle):
            conn.close()
        self.clock.close()
