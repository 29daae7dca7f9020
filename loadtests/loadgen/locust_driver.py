"""The load-generator process of a bench run: runs one phase per command, exact figures.

Started by the runner (``loadtests.loadgen.locust_master``) as
``python -m loadtests.loadgen.locust_driver --workers N``. With one worker it generates the
load itself (a Locust ``LocalRunner``); with more it is a Locust master and starts N
``locust --worker`` processes on ``loadtests/loadgen/locustfile.py``. Either way the same
custom messages configure the users and collect their figures (a LocalRunner delivers them
in-process). It reads one JSON command per line on stdin and writes one JSON event per line
on stdout::

    <- {"event": "ready", "pid": ..., "workers": [...]}
    -> {"cmd": "phase", "host": "http://127.0.0.1:8001", "config": {PhaseConfig}}
    <- {"event": "result", "phase": ..., "requests": ..., "latency": "<HDR base64>", ...}
    -> {"cmd": "quit"}

A phase: send every worker its configuration (with the common start time ``t0``),
spawn the users, wait for warm-up plus duration, ask every worker for its figures
(it first lets measured requests in flight finish, up to ``drain_s``), stop the users,
merge. Closing stdin also quits. Errors are answered with ``{"event": "error"}``.

Distributed mode costs about one extra second per phase: Locust's master polls once a
second for its workers to report that their users stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import IO, Any

# Set before Locust reads it: the master waits this long for workers' spawn reports.
os.environ.setdefault("LOCUST_WAIT_FOR_WORKERS_REPORT_AFTER_RAMP_UP", "0.3")
# Every user class of the locustfile is available here and in the workers (inherited).
os.environ["FVF_BENCH_DRIVER"] = "1"

import gevent
from gevent.fileobject import FileObjectPosix
from locust import events
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_STOPPED, LocalRunner, MasterRunner

from loadtests.common import hdr as _hdr
from loadtests.loadgen import locustfile
from loadtests.loadgen.locust_phase import USER_CLASSES, LocustResult, PhaseConfig

START_LEAD_S = 0.05
CONNECT_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 15.0


class Driver:
    """A Locust runner (local, or master with workers), running phases one at a time."""

    def __init__(self, workers: int, port: int) -> None:
        classes = [getattr(locustfile, name) for name in USER_CLASSES]
        self.classes = {cls.__name__: cls for cls in classes}
        self.env = Environment(user_classes=classes, events=events)
        self.expected = workers
        self.replies: dict[str, dict[str, Any]] = {}
        self.readies: set[str] = set()
        self.workers: list[subprocess.Popen[bytes]] = []
        self.runner: LocalRunner | MasterRunner
        if workers == 1:
            self.runner = self.env.create_local_runner()
            locustfile.register_worker_messages(self.runner)
        else:
            self.runner = self.env.create_master_runner("127.0.0.1", port)
            argv = [
                sys.executable,
                "-m",
                "locust",
                "-f",
                locustfile.__file__,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
                "--loglevel",
                "WARNING",
            ]
            self.workers = [subprocess.Popen(argv) for _ in range(workers)]
        self.runner.register_message("fvf_result", self._on_result)
        self.runner.register_message("fvf_ready", self._on_ready)

    def _on_result(self, environment: Environment, msg: Message, **_: Any) -> None:
        self.replies[msg.node_id] = msg.data

    def _on_ready(self, environment: Environment, msg: Message, **_: Any) -> None:
        self.readies.add(msg.node_id)

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            if any(w.poll() is not None for w in self.workers):
                raise RuntimeError("a Locust worker exited")
            gevent.sleep(0.01)

    def _ready_ids(self) -> list[str]:
        if isinstance(self.runner, LocalRunner):
            return ["local"]
        return sorted(c.id for c in self.runner.clients.ready)

    def connect(self) -> None:
        """Wait until every worker has connected."""
        self._wait(lambda: len(self._ready_ids()) >= self.expected, CONNECT_TIMEOUT_S, "workers")

    def run_phase(self, host: str, config: PhaseConfig) -> LocustResult:
        """Run one phase on every worker and return the merged figures."""
        self.env.host = host
        self.replies.clear()
        self.readies.clear()
        clients = self._ready_ids()
        if len(clients) < self.expected:
            raise RuntimeError(f"only {len(clients)} of {self.expected} workers are ready")
        t0 = time.time() + START_LEAD_S
        for index, client_id in enumerate(clients):
            data = {**config, "t0": t0, "worker_index": index, "worker_count": len(clients)}
            self.runner.send_message("fvf_phase", data, client_id=client_id)
        self._wait(lambda: len(self.readies) >= len(clients), REPLY_TIMEOUT_S, "phase setup")
        users = config["users"]
        self.runner.start(
            users, spawn_rate=users, user_classes=[self.classes[config["user_class"]]]
        )
        end = t0 + config["warmup_s"] + config["duration_s"]
        gevent.sleep(max(0.0, end - time.time()) + 0.01)
        self.runner.send_message("fvf_collect")
        timeout = config["drain_s"] + REPLY_TIMEOUT_S
        self._wait(lambda: len(self.replies) >= len(clients), timeout, "workers' figures")
        self.runner.stop()
        self._wait(
            lambda: self.runner.state == STATE_STOPPED and len(self._ready_ids()) >= len(clients),
            REPLY_TIMEOUT_S,
            "workers to stop",
        )
        return merge(config, list(self.replies.values()))

    def quit(self) -> None:
        """Stop the users, the workers and the runner."""
        self.runner.quit()
        for worker in self.workers:
            try:
                worker.wait(5)
            except subprocess.TimeoutExpired:
                worker.kill()


def merge(config: PhaseConfig, replies: list[dict[str, Any]]) -> LocustResult:
    """Add up the figures of every worker for one phase."""
    by_status: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    by_case: dict[str, Counter[str]] = {}
    for reply in replies:
        by_status.update(reply["by_status"])
        errors.update(reply["errors"])
        for case, counts in reply["by_case"].items():
            by_case.setdefault(case, Counter()).update(counts)
    counts = {
        key: sum(int(r[key]) for r in replies)
        for key in ("completed", "requests", "failures", "incomplete", "scheduled")
    }
    hists = {}
    for key in ("latency", "service", "send_lag"):
        encoded = [r[key] for r in replies if r[key]]
        hists[key] = _hdr.encode(_hdr.merge(encoded)) if encoded else None
    return LocustResult(
        event="result",
        phase=config["phase"],
        workers=len(replies),
        window=[min(r["window"][0] for r in replies), max(r["window"][1] for r in replies)],
        by_status=dict(by_status),
        by_case={k: dict(v) for k, v in by_case.items()},
        errors=dict(errors),
        completed=counts["completed"],
        requests=counts["requests"],
        failures=counts["failures"],
        incomplete=counts["incomplete"],
        scheduled=counts["scheduled"],
        latency=hists["latency"],
        service=hists["service"],
        send_lag=hists["send_lag"],
    )


def main(argv: list[str] | None = None) -> int:
    """Serve phases read from stdin until quit or end of input."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.loadgen.locust_driver", description=__doc__
    )
    parser.add_argument("--workers", type=int, default=1, help="Locust worker processes")
    parser.add_argument("--port", type=int, required=True, help="master port for the workers")
    args = parser.parse_args(argv)
    # Only our JSON lines go to the real stdout; anything else printed goes to stderr.
    out: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def emit(event: Mapping[str, Any]) -> None:
        out.write(json.dumps(event) + "\n")

    driver = Driver(args.workers, args.port)
    try:
        driver.connect()
        emit({"event": "ready", "pid": os.getpid(), "workers": [w.pid for w in driver.workers]})
        stdin = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
        while line := stdin.readline():
            command = json.loads(line)
            if command["cmd"] == "quit":
                break
            try:
                emit(driver.run_phase(command["host"], command["config"]))
            except Exception as exc:
                if driver.runner.state != STATE_STOPPED:
                    driver.runner.stop()
                emit({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
    except Exception as exc:
        emit({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
