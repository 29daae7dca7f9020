"""Sample CPU and memory of the server and the load generator every interval (psutil).

CPU percentages follow psutil and ``top``: 100 means one core fully busy. Each process
tree (a server with its workers, Locust with its workers, or wrk) is re-read at every
sample, so workers forked later are included. The machine's busy time is read too:
``other_cpu_pct`` is what neither side nor the runner used, i.e. other processes
competing for the cores (a shared machine). ``steal_pct`` is the time the hypervisor
gave the machine's cores to other guests (psutil ``cpu_times().steal``), in the same unit:
100 = one core's worth, up to 100 times the cores. Rows go to a CSV as they are taken.
"""

from __future__ import annotations

import contextlib
import csv
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from statistics import fmean

import psutil

OTHER_CPU_LIMIT_PCT = 25.0
BOUND_PCT = 90.0


@dataclass(frozen=True)
class Sample:
    """One reading of both sides, covering the interval that ends at ``time``."""

    time: float
    label: str
    server_cpu_pct: float | None
    server_rss_mb: float | None
    server_procs: int
    lg_cpu_pct: float | None
    lg_cpu_max_proc_pct: float | None
    lg_procs: int
    runner_cpu_pct: float
    machine_cpu_pct: float
    other_cpu_pct: float
    server_cores_busy_pct: float | None
    lg_cores_busy_pct: float | None
    steal_pct: float | None = None  # None: the platform reports no steal time


FIELDS = tuple(f.name for f in fields(Sample))  # the columns of resources.csv


class _Tree:
    """CPU and memory of one process and its descendants, psutil objects kept across reads."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._procs: dict[int, psutil.Process] = {}

    def read(self) -> tuple[list[float], float]:
        """Return the CPU % of each process since the last read, and the summed RSS in MB."""
        try:
            root = psutil.Process(self.pid)
            current = [root, *root.children(recursive=True)]
        except psutil.Error:
            return [], 0.0
        cpu: list[float] = []
        rss = 0.0
        for proc in current:
            known = self._procs.setdefault(proc.pid, proc)
            try:
                cpu.append(known.cpu_percent(None))
                rss += known.memory_info().rss / 2**20
            except psutil.Error:
                continue
        self._procs = {p.pid: self._procs[p.pid] for p in current if p.pid in self._procs}
        return cpu, rss


class Sampler:
    """A background thread reading the watched server and load generator every interval."""

    def __init__(
        self,
        csv_path: Path,
        interval_s: float = 0.5,
        server_cores: Sequence[int] | None = None,
        lg_cores: Sequence[int] | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.server_cores = list(server_cores or [])
        self.lg_cores = list(lg_cores or [])
        self.samples: list[Sample] = []
        self.label = ""
        self._server: _Tree | None = None
        self._lg: _Tree | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._runner = psutil.Process()
        self._runner.cpu_percent(None)
        psutil.cpu_percent(None, percpu=True)
        self._cores = psutil.cpu_count() or 1
        self._steal = _steal_s()
        self._file = csv_path.open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        self._csv.writerow(FIELDS)
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._thread.start()

    def watch(self, *, server: int | None, lg: int | None, label: str = "") -> None:
        """Watch these process trees from now on (None: nothing on that side)."""
        with self._lock:
            self._server = _Tree(server) if server else None
            self._lg = _Tree(lg) if lg else None
            self.label = label
            for tree in (self._server, self._lg):
                if tree is not None:
                    tree.read()  # prime psutil's per-process CPU counters

    def _loop(self) -> None:
        # Lowest priority for this thread alone (Linux: a thread is a task): on the load
        # generator's core it must yield to the open-loop client, whose sends it would delay.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while not self._stop.wait(self.interval_s):
            with self._lock:
                self._take()

    def _take(self) -> None:
        server_cpu, server_rss = self._server.read() if self._server else ([], 0.0)
        lg_cpu, _ = self._lg.read() if self._lg else ([], 0.0)
        runner = self._runner.cpu_percent(None)
        per_core = psutil.cpu_percent(None, percpu=True)
        machine = sum(per_core)
        steal = _steal_s()
        steal_pct = _steal_pct(self._steal, steal)
        self._steal = steal
        ours = sum(server_cpu) + sum(lg_cpu) + runner
        sample = Sample(
            time=time.time(),
            label=self.label,
            server_cpu_pct=round(sum(server_cpu), 1) if self._server else None,
            server_rss_mb=round(server_rss, 1) if self._server else None,
            server_procs=len(server_cpu),
            lg_cpu_pct=round(sum(lg_cpu), 1) if self._lg else None,
            lg_cpu_max_proc_pct=round(max(lg_cpu, default=0.0), 1) if self._lg else None,
            lg_procs=len(lg_cpu),
            runner_cpu_pct=round(runner, 1),
            machine_cpu_pct=round(machine, 1),
            other_cpu_pct=round(max(0.0, machine - ours), 1),
            server_cores_busy_pct=_mean_of(per_core, self.server_cores),
            lg_cores_busy_pct=_mean_of(per_core, self.lg_cores),
            steal_pct=steal_pct,
        )
        self.samples.append(sample)
        self._csv.writerow([round(sample.time, 3), *(getattr(sample, f) for f in FIELDS[1:])])
        self._file.flush()

    def window(self, start: float, end: float) -> list[Sample]:
        """Return the samples whose interval lies within [start, end] (the nearest if none)."""
        with self._lock:
            inside = [
                s for s in self.samples if start <= s.time - self.interval_s and s.time <= end
            ]
            if inside or not self.samples:
                return inside
            middle = (start + end) / 2
            return [min(self.samples, key=lambda s: abs(s.time - self.interval_s / 2 - middle))]

    def close(self) -> None:
        """Stop sampling and close the CSV."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._file.close()


def _steal_s() -> tuple[float, float | None]:
    """Return now (monotonic) and the machine's total steal seconds (None: not reported)."""
    steal = getattr(psutil.cpu_times(), "steal", None)
    return time.monotonic(), (float(steal) if steal is not None else None)


def _steal_pct(
    before: tuple[float, float | None], after: tuple[float, float | None]
) -> float | None:
    """Return the steal time between two readings as percent of one core."""
    (t0, s0), (t1, s1) = before, after
    if s0 is None or s1 is None or t1 <= t0:
        return None
    return round(max(0.0, s1 - s0) / (t1 - t0) * 100, 1)


def _mean_of(per_core: list[float], cores: list[int]) -> float | None:
    """Return how busy the given cores were on average (None without cores)."""
    busy = [per_core[c] for c in cores if c < len(per_core)]
    return round(fmean(busy), 1) if busy else None


def summarise(samples: list[Sample], lg_cores: int) -> dict[str, float | bool | int | None]:
    """Return the resource figures of a phase; flag it when the load generator was saturated.

    Bound means: one load-generator process above 90 % of a core (Locust and wrk are
    single-threaded per process), or all of them together above 90 % of their cores, or
    the load-generator cores more than 90 % busy on average, whoever kept them busy.
    Disturbed means: other processes of the machine used more than a quarter of a core.
    ``steal_pct`` is the phase's mean steal time, percent of one core.
    """

    def values(name: str) -> list[float]:
        return [v for s in samples if (v := getattr(s, name)) is not None]

    lg_max = max(values("lg_cpu_max_proc_pct"), default=None)
    lg_total = max(values("lg_cpu_pct"), default=None)
    server_cpu = values("server_cpu_pct")
    server_rss = values("server_rss_mb")
    other = values("other_cpu_pct")
    lg_cores_busy = values("lg_cores_busy_pct")
    server_cores_busy = values("server_cores_busy_pct")
    steal = values("steal_pct")
    lg_cores_mean = round(fmean(lg_cores_busy), 1) if lg_cores_busy else None
    bound = (
        (lg_max is not None and lg_max > BOUND_PCT)
        or (lg_total is not None and lg_total > BOUND_PCT * max(lg_cores, 1))
        or (lg_cores_mean is not None and lg_cores_mean > BOUND_PCT)
    )
    return {
        "samples": len(samples),
        "lg_cpu_max_pct": lg_max,
        "lg_cpu_mean_pct": round(fmean(values("lg_cpu_pct")), 1) if values("lg_cpu_pct") else None,
        "lg_cpu_total_max_pct": lg_total,
        "server_cpu_pct": round(fmean(server_cpu), 1) if server_cpu else None,
        "server_cpu_max_pct": max(server_cpu, default=None),
        "server_rss_mb": max(server_rss, default=None),
        "load_generator_bound": bool(bound),
        "other_cpu_pct": round(fmean(other), 1) if other else None,
        "lg_cores_busy_pct": lg_cores_mean,
        "server_cores_busy_pct": round(fmean(server_cores_busy), 1) if server_cores_busy else None,
        "disturbed": bool(other and fmean(other) > OTHER_CPU_LIMIT_PCT),
        "steal_pct": round(fmean(steal), 1) if steal else None,
    }
