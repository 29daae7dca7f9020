"""What a server spends per request: user and kernel CPU, connections, system calls.

``Counters`` reads, at one moment, the CPU times (user and kernel) of a server's process
tree (psutil ``cpu_times`` of the main process and every worker and thread it holds) and the
machine's TCP open counters (``/proc/net/snmp``: ``PassiveOpens``, connections accepted by a
listener, i.e. the server side on loopback; ``ActiveOpens``, connections opened, i.e. the
client side). Two readings around a wrk pass give its CPU per request split into user and
kernel time, and the connections per request as the server accepted them, cross-checked
with those the client opened. The TCP counters are the whole machine's: while a pass runs
nothing else of the run opens connections, but another program on the machine would count.

``count_syscalls`` attaches ``strace -c -f`` to a server for one short load and returns the
system calls per request. strace stops the server at every call, so that load is untimed:
it never feeds a throughput figure.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from loadtests.common.procs import pinned, tree

SNMP = Path("/proc/net/snmp")
ATTACH_TIMEOUT_S = 5.0
STRACE_TOP = 6  # the system calls kept by name, most frequent first


@dataclass(frozen=True)
class Counters:
    """CPU seconds of a process tree, and the machine's TCP open counters, at one moment."""

    user_s: float
    kernel_s: float
    passive_opens: int | None  # None: not Linux, or /proc/net/snmp unreadable
    active_opens: int | None


def tcp_opens() -> tuple[int | None, int | None]:
    """Return the machine's TCP PassiveOpens and ActiveOpens counters (None where unknown)."""
    try:
        lines = [ln.split() for ln in SNMP.read_text().splitlines() if ln.startswith("Tcp:")]
    except OSError:
        return None, None
    if len(lines) < 2:
        return None, None
    row = dict(zip(lines[0][1:], lines[1][1:], strict=False))
    passive, active = row.get("PassiveOpens"), row.get("ActiveOpens")
    return (int(passive) if passive else None, int(active) if active else None)


def read(pid: int | None) -> Counters:
    """Return the CPU times of pid's process tree (zero without one) and the TCP counters."""
    user = kernel = 0.0
    for proc in tree(pid) if pid else []:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            user += times.user
            kernel += times.system
    passive, active = tcp_opens()
    return Counters(user, kernel, passive, active)


def wait_idle(
    pid: int | None,
    *,
    busy_pct: float = 10.0,
    window_s: float = 0.1,
    streak: int = 2,
    timeout_s: float = 30.0,
) -> float:
    """Wait until a server's process tree uses less than busy_pct of a core for ``streak``
    windows in a row (an overloaded server still working off requests its clients gave up
    on); return the seconds waited (timeout_s at most)."""
    if not pid:
        return 0.0
    start = last = time.monotonic()
    before, quiet = read(pid), 0
    while quiet < streak and last - start < timeout_s:
        time.sleep(window_s)
        now, after = time.monotonic(), read(pid)
        used = (after.user_s + after.kernel_s) - (before.user_s + before.kernel_s)
        quiet = quiet + 1 if used / (now - last) * 100 < busy_pct else 0
        before, last = after, now
    return last - start


def share_pct(
    before: Counters,
    after: Counters,
    duration_s: float,
    cores: Sequence[int] | None,
    workers: int,
) -> float | None:
    """Return a process tree's CPU time between two readings over a load of duration_s, in
    percent of the cores it can use: those it is pinned to, at most one per worker (a Python
    worker holds its GIL). None when it is not pinned, so what it may use is unknown."""
    if not cores or duration_s <= 0:
        return None
    usable = min(len(cores), max(1, workers))
    used = (after.user_s + after.kernel_s) - (before.user_s + before.kernel_s)
    return round(used / (duration_s * usable) * 100, 1)


@dataclass(frozen=True)
class Split:
    """A server's CPU per answered request, user and kernel, and connections per request."""

    user_us: float
    kernel_us: float
    connections_per_request: float | None  # accepted by the server (PassiveOpens)
    client_connections_per_request: float | None  # opened by the client (ActiveOpens)

    @property
    def cpu_us(self) -> float:
        """Return the whole CPU per request: user plus kernel."""
        return self.user_us + self.kernel_us


def split(before: Counters, after: Counters, requests: int) -> Split | None:
    """Return the split per request between two readings (None without requests)."""
    if requests <= 0:
        return None

    def per(a: int | None, b: int | None) -> float | None:
        return round((b - a) / requests, 4) if a is not None and b is not None else None

    return Split(
        user_us=round((after.user_s - before.user_s) / requests * 1e6, 1),
        kernel_us=round((after.kernel_s - before.kernel_s) / requests * 1e6, 1),
        connections_per_request=per(before.passive_opens, after.passive_opens),
        client_connections_per_request=per(before.active_opens, after.active_opens),
    )


@dataclass(frozen=True)
class Syscalls:
    """System calls a server made under one short, untimed load."""

    requests: int  # answered during the traced load
    calls: int
    top: dict[str, int]  # the most frequent calls by name

    @property
    def per_request(self) -> float:
        """Return the system calls per answered request."""
        return round(self.calls / self.requests, 2) if self.requests else 0.0


def strace_available() -> bool:
    """Tell whether strace is installed."""
    return shutil.which("strace") is not None


def parse_strace(text: str) -> tuple[int, dict[str, int]]:
    """Return the total calls and the calls by name of an ``strace -c`` table."""
    calls: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[-1] == "total" or not _number(parts[0]):
            continue
        numbers = parts[:-1]
        if len(numbers) >= 4 and numbers[3].isdigit():  # % time, seconds, usecs/call, calls
            calls[parts[-1]] = calls.get(parts[-1], 0) + int(numbers[3])
    return sum(calls.values()), dict(sorted(calls.items(), key=lambda kv: -kv[1])[:STRACE_TOP])


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def count_syscalls(
    pid: int, load: Callable[[], int], out_path: Path, cores: Sequence[int] | None
) -> Syscalls | None:
    """Trace pid's tree (every thread) with ``strace -c -f`` while load() runs; return its
    system calls per answered request (load returns the count). None without strace, or when
    strace cannot attach (ptrace not allowed here)."""
    pids = [p.pid for p in tree(pid)]
    if not strace_available() or not pids:
        return None
    argv = pinned(["strace", "-c", "-f", "-o", str(out_path)], cores)
    for p in pids:
        argv += ["-p", str(p)]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tracer = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        if not _attached(tracer, len(pids)):
            return None
        requests = load()
    finally:
        with contextlib.suppress(ProcessLookupError):
            tracer.send_signal(signal.SIGINT)  # strace detaches and writes its table
        try:
            tracer.wait(10)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.wait(5)
    if not out_path.exists():
        return None
    total, top = parse_strace(out_path.read_text(encoding="utf-8", errors="replace"))
    return Syscalls(requests, total, top) if total else None


def _attached(tracer: subprocess.Popen[bytes], processes: int) -> bool:
    """Wait until strace says it attached to every process (its stderr), or gave up."""
    assert tracer.stderr is not None
    deadline = time.monotonic() + ATTACH_TIMEOUT_S
    seen = 0
    while seen < processes and (left := deadline - time.monotonic()) > 0:
        if tracer.poll() is not None:
            return False
        ready, _, _ = select.select([tracer.stderr], [], [], left)
        if ready:  # the raw descriptor: a buffered readline would hide a second line
            seen += os.read(tracer.stderr.fileno(), 4096).count(b" attached")
    return seen >= processes
