"""Start processes pinned to given cores in their own session; stop them by PID.

Every process is started with ``start_new_session=True``, so it leads its own process
group: stopping it sends SIGTERM to the whole group (server workers included), then
SIGKILL after a grace period. Each start and stop is appended to a JSON-lines ledger
so that a reader (or a test) can check afterwards that nothing was left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import psutil

GRACE_S = 5.0


class ProcessError(RuntimeError):
    """A process could not be started, did not become ready, or answered wrongly."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def can_pin() -> bool:
    """Tell whether processes can be pinned to cores here (Linux with taskset)."""
    return hasattr(os, "sched_setaffinity") and shutil.which("taskset") is not None


def pinned(argv: Sequence[str], cores: Sequence[int] | None) -> list[str]:
    """Return argv prefixed with taskset so that every thread it starts stays on cores."""
    if not cores or not can_pin():
        return list(argv)
    return ["taskset", "--cpu-list", ",".join(map(str, cores)), *argv]


def tree(pid: int) -> list[psutil.Process]:
    """Return the process pid and all its descendants that are still alive."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def is_gone(pid: int) -> bool:
    """Tell whether pid no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _stderr_beside(stdout: int | IO[Any] | None) -> int:
    """Send stderr where stdout goes when that is a file, else nowhere."""
    if stdout is None or stdout == subprocess.PIPE:
        return subprocess.DEVNULL
    return subprocess.STDOUT


class Ledger:
    """Append-only JSON-lines record of the processes a run started and stopped."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        """Append one event with a timestamp."""
        if self.path is None:
            return
        line = json.dumps({"event": event, "time": time.time(), **fields})
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


class Managed:
    """A process this run started in its own session, stopped by PID with its group."""

    def __init__(
        self,
        kind: str,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cores: Sequence[int] | None = None,
        log_path: Path | None = None,
        ledger: Ledger | None = None,
        stdin: int | None = None,
        stdout: int | IO[Any] | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.argv = pinned(argv, cores)
        self.ledger = ledger or Ledger(None)
        self._log = log_path.open("ab") if log_path else None
        try:
            self.popen = subprocess.Popen(
                self.argv,
                env=env,
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=stdout if stdout is not None else (self._log or subprocess.DEVNULL),
                stderr=self._log or _stderr_beside(stdout),
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise ProcessError(f"cannot start {name}: {exc}") from None
        self.pid = self.popen.pid
        self.seen: set[int] = {self.pid}
        self.stopped = False
        self.ledger.write("start", kind=kind, name=name, pid=self.pid, argv=self.argv)

    def alive(self) -> bool:
        """Tell whether the main process still runs."""
        return self.popen.poll() is None

    def remember_tree(self) -> list[int]:
        """Record the PIDs of the process and its children (workers) in the ledger."""
        pids = [p.pid for p in tree(self.pid)]
        new = sorted(set(pids) - self.seen)
        self.seen.update(pids)
        if new:
            self.ledger.write("children", kind=self.kind, name=self.name, pid=self.pid, pids=new)
        return pids

    def pin(self, cores: Sequence[int]) -> None:
        """Move every thread of the process and its children onto cores."""
        for proc in tree(self.pid):
            try:
                threads = proc.threads()
            except psutil.Error:
                continue
            for thread in threads:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.sched_setaffinity(thread.id, cores)

    def stop(self, grace_s: float = GRACE_S) -> int | None:
        """SIGTERM the process group, SIGKILL what is left after grace_s; return the exit code."""
        if self.stopped:
            return self.popen.returncode
        self.stopped = True
        self.remember_tree()
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(grace_s)
        # Workers that outlived their parent, or left the group, are killed one by one.
        deadline = time.monotonic() + grace_s
        while (left := [pid for pid in self.seen if not is_gone(pid)]) and (
            time.monotonic() < deadline
        ):
            self._signal_group(signal.SIGTERM)
            time.sleep(0.05)
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        code = self.popen.returncode
        self.ledger.write("stop", kind=self.kind, name=self.name, pid=self.pid, returncode=code)
        self._close_log()
        return code

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class Registry:
    """Every process a run has started and not yet stopped, for cleanup on any exit."""

    def __init__(self) -> None:
        self._live: list[Managed] = []
        self._lock = threading.Lock()

    def add(self, proc: Managed) -> Managed:
        """Track proc until it is stopped."""
        with self._lock:
            self._live.append(proc)
        return proc

    def stop(self, proc: Managed, grace_s: float = GRACE_S) -> int | None:
        """Stop one tracked process."""
        try:
            return proc.stop(grace_s)
        finally:
            with self._lock:
                if proc in self._live:
                    self._live.remove(proc)

    def stop_all(self, grace_s: float = GRACE_S) -> None:
        """Stop every tracked process, newest first."""
        while True:
            with self._lock:
                if not self._live:
                    return
                proc = self._live[-1]
            self.stop(proc, grace_s)
