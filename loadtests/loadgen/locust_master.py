"""The runner's handle on the Locust master process (``loadtests.loadgen.locust_driver``).

The master runs in its own process because Locust monkey-patches the standard
library with gevent; the runner stays an ordinary Python process.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from loadtests.common.procs import Ledger, Managed, ProcessError, Registry, free_port
from loadtests.loadgen.locust_phase import LocustResult, PhaseConfig

READY_TIMEOUT_S = 90.0
PHASE_SLACK_S = 30.0


class LocustMaster:
    """The Locust process (and its workers, if any), pinned to the load-generator cores."""

    def __init__(
        self,
        workers: int,
        cores: Sequence[int] | None,
        log_path: Path,
        ledger: Ledger,
        registry: Registry,
        *,
        blocking_resolver: bool = True,
    ) -> None:
        self.workers = workers
        self.registry = registry
        argv = [
            sys.executable,
            "-m",
            "loadtests.loadgen.locust_driver",
            "--workers",
            str(workers),
            "--port",
            str(free_port()),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if blocking_resolver:
            # gevent's default resolver hands every connect's getaddrinfo to a thread pool:
            # about 0.3 ms of CPU per new connection, which servers without keep-alive
            # (gunicorn sync) pay on every request. An IP literal needs no lookup.
            env["GEVENT_RESOLVER"] = "block"
        self.proc = registry.add(
            Managed(
                "loadgen",
                "locust",
                argv,
                env=env,
                cores=cores,
                log_path=log_path,
                ledger=ledger,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        )
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._next(READY_TIMEOUT_S, "the Locust master to start")
        self.proc.remember_tree()
        self.pids: list[int] = [ready["pid"], *ready["workers"]]

    def _read(self) -> None:
        stdout = self.proc.popen.stdout
        assert stdout is not None
        for line in stdout:
            self._events.put(json.loads(line))
        self._events.put(None)

    def _next(self, timeout: float, what: str) -> dict[str, Any]:
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            raise ProcessError(f"timed out after {timeout:.0f}s waiting for {what}") from None
        if event is None:
            raise ProcessError(f"the Locust master exited while waiting for {what}")
        if event.get("event") == "error":
            raise ProcessError(f"load generator: {event['message']}")
        return event

    def run(self, host: str, config: PhaseConfig) -> LocustResult:
        """Run one phase against host and return the merged figures of every worker."""
        stdin = self.proc.popen.stdin
        assert stdin is not None
        try:
            stdin.write(
                (json.dumps({"cmd": "phase", "host": host, "config": config}) + "\n").encode()
            )
            stdin.flush()
        except BrokenPipeError:
            raise ProcessError("the Locust master is gone") from None
        timeout = config["warmup_s"] + config["duration_s"] + config["drain_s"] + PHASE_SLACK_S
        return cast(LocustResult, self._next(timeout, f"phase {config['phase']}"))

    def close(self) -> None:
        """Ask the master to quit, then stop its process group by PID."""
        stdin = self.proc.popen.stdin
        if stdin is not None and self.proc.alive():
            try:
                stdin.write(b'{"cmd": "quit"}\n')
                stdin.close()
                self.proc.popen.wait(5)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                pass
        self.registry.stop(self.proc)
