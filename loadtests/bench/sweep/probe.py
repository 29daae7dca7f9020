"""What the sweep watches during a visit: the /health probe thread and the server-core meter."""

from __future__ import annotations

import contextlib
import http.client
import os
import threading
import time
from collections.abc import Sequence

import psutil

from loadtests.common.net import loopback
from loadtests.common.procs import Managed, tree

PROBE_TIMEOUT_S = 5.0


class HealthProbe(threading.Thread):
    """GET /health at a fixed rate on one connection; latency from each intended send time,
    so a stalled server counts for every probe it delays (no coordinated omission)."""

    def __init__(self, url: str, rate: float, cores: Sequence[int] | None) -> None:
        super().__init__(name="health-probe", daemon=True)
        self.host, self.port = loopback(url)
        self.interval = 1.0 / rate
        self.cores = cores
        self.latencies_s: list[float] = []  # of the probes answered 200
        self.errors = 0
        self._done = threading.Event()

    def run(self) -> None:
        """Probe until finish() is called."""
        if self.cores and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, self.cores)  # this thread only: off the server's core
        # One kept-alive connection, not net.health_ok's fresh one per call: the probe
        # times the server's answer at a fixed rate, not the polling of a starting server.
        conn = http.client.HTTPConnection(self.host, self.port, timeout=PROBE_TIMEOUT_S)
        intended = time.perf_counter()
        try:
            while not self._done.wait(max(0.0, intended - time.perf_counter())):
                try:
                    conn.request("GET", "/health")
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    conn.close()  # reopened by the next request
                    ok = False
                if ok:
                    self.latencies_s.append(time.perf_counter() - intended)
                else:
                    self.errors += 1
                intended += self.interval
        finally:
            conn.close()

    def finish(self) -> None:
        """Stop probing and wait for the thread."""
        self._done.set()
        self.join(PROBE_TIMEOUT_S + 1)


class CoreMeter:
    """CPU used on the server core(s) from now until read(): by the server, and by others."""

    def __init__(self, proc: Managed, cores: Sequence[int] | None) -> None:
        self.proc = proc
        self.cores = list(cores or [])
        self.start = time.monotonic()
        self.server0 = self._server_s()
        self.busy0 = self._busy_s()

    def _server_s(self) -> float:
        total = 0.0
        for p in tree(self.proc.pid):
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                total += times.user + times.system
        return total

    def _busy_s(self) -> float | None:
        if not self.cores:
            return None
        per_cpu = psutil.cpu_times(percpu=True)
        if max(self.cores) >= len(per_cpu):
            return None
        return sum(
            t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)
            for t in (per_cpu[c] for c in self.cores)
        )

    def read(self) -> tuple[float | None, float | None]:
        """Return (server CPU %, others' CPU % on the server cores), % of one core."""
        wall = time.monotonic() - self.start
        if wall <= 0:
            return None, None
        server = (self._server_s() - self.server0) / wall * 100
        busy1 = self._busy_s()
        if busy1 is None or self.busy0 is None:
            return round(server, 1), None
        busy = (busy1 - self.busy0) / wall * 100
        return round(server, 1), round(max(0.0, busy - server), 1)
