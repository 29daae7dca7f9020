"""Locust users for the bench: one FastHttpUser per behaviour, every answer checked.

Driven by ``python -m loadtests.bench`` (through ``loadtests.loadgen.locust_driver``),
which sends each worker a ``PhaseConfig`` before every phase and collects the worker's
exact figures afterwards. Also usable on its own for a quick look::

    locust -f loadtests/loadgen/locustfile.py --headless -u 8 -t 10s --host http://127.0.0.1:8000

On its own only ``PredictUser`` runs, with status checks alone (the exact answer is
known only once the runner has verified the server); the other behaviours exist for
the runner, which sets ``FVF_BENCH_DRIVER=1`` for its Locust processes.

Recording: every request completing inside the measurement window is counted through
Locust's ``request`` event; the latency of each answer that met its expectation goes
into an HdrHistogram in microseconds. ``FixedRatePredictUser`` is the open-loop
driver: requests are released on a fixed schedule shared by all users of a worker
(slot i is due at ``t0 + i / rate``); each user takes the next slot, sleeps until it is
due and sends. Latency is measured from the slot's intended time, not from the actual
send, so a stalled server is charged for the requests it held back (no coordinated
omission); the lateness of the send itself is recorded as ``send_lag``.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import sys
import time
from collections import Counter
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment
from locust.rpc import Message
from locust.runners import LocalRunner, Runner, WorkerRunner

from loadtests.common import hdr as _hdr
from loadtests.loadgen.locust_phase import (
    PhaseConfig,
    RequestSpec,
    health_spec,
    mix_specs,
    phase_config,
    unb64,
)

BENCH_DRIVER = os.environ.get("FVF_BENCH_DRIVER") == "1"
MAX_ERROR_KINDS = 20
IDLE_S = 0.05


class Request:
    """A RequestSpec decoded once, ready to send."""

    def __init__(self, spec: RequestSpec) -> None:
        self.name = spec["name"]
        self.method = spec["method"]
        self.path = spec["path"]
        self.body = unb64(spec["body_b64"])
        self.headers = {"Content-Type": spec["content_type"]} if spec["content_type"] else {}
        self.expected_status = spec["expected_status"]
        self.expected_body = unb64(spec["expected_body_b64"])
        self.context = {"case": self.name}  # built once; Locust only reads it

    def verdict(self, response: ResponseContextManager) -> str | None:
        """Return why the response is wrong, or None when it is the expected answer."""
        status = response.status_code or 0
        if status == 0:
            error = getattr(response, "error", None)
            return f"no response: {type(error).__name__}: {error}"[:120]
        if status != self.expected_status:
            return f"status {status}, expected {self.expected_status}"
        if self.expected_body is not None and response.content != self.expected_body:
            return "body differs from the verified answer"
        return None


class Recorder:
    """The figures of one worker for the current phase, reset by each new phase."""

    def __init__(self) -> None:
        self.configure(_standalone_config())

    def configure(self, config: PhaseConfig) -> None:
        """Start a new phase: clear every figure and set the measurement window."""
        self.config = config
        self.requests = [Request(spec) for spec in config["requests"]]
        self.primary = self.requests[0]
        self.health = next((r for r in self.requests if r.path == "/health"), _HEALTH)
        self.bad = [
            r for spec, r in zip(config["requests"], self.requests, strict=True) if spec["bad"]
        ]
        t0 = config.get("t0", time.time())
        self.t0 = t0
        self.window = (t0 + config["warmup_s"], t0 + config["warmup_s"] + config["duration_s"])
        self.latency = _hdr.new_histogram()
        self.service = _hdr.new_histogram()  # fixed rate: from actual send, for comparison
        self.send_lag = _hdr.new_histogram()
        self.count = 0
        self.failures = 0
        self.by_status: Counter[str] = Counter()
        self.by_case: dict[str, Counter[str]] = {}
        self.errors: Counter[str] = Counter()
        self.in_flight = 0
        self.scheduled = 0
        self._sent = itertools.count()
        self._slots = itertools.count()
        index = config.get("worker_index", 0)
        stride = config.get("worker_count", 1)
        self._slot_numbers = (index + j * stride for j in self._slots)

    def next_request(self) -> Request:
        """Return the next request: the valid one, or every so often a bad one (the mix)."""
        fraction = self.config["bad_fraction"]
        if not self.bad or fraction <= 0:
            return self.primary
        i = next(self._sent)
        # Spread the bad requests evenly: request i is bad when the running quota grows.
        if math.floor((i + 1) * fraction) > math.floor(i * fraction):
            return self.bad[math.floor(i * fraction) % len(self.bad)]
        return self.primary

    def next_slot(self) -> float | None:
        """Return the intended send time of this worker's next slot, None once past the window."""
        rate = self.config["rate"]
        intended = self.t0 + next(self._slot_numbers) / rate if rate > 0 else math.inf
        if intended >= self.window[1]:
            return None
        if intended >= self.window[0]:
            self.scheduled += 1
            self.in_flight += 1
        return intended

    def measured(self, intended: float) -> bool:
        """Tell whether a slot due at intended belongs to the measurement window."""
        return self.window[0] <= intended < self.window[1]

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response: Any,
        context: dict[str, Any],
        exception: BaseException | None,
        start_time: float,
        **_: Any,
    ) -> None:
        """Count one finished request if it belongs to the window (Locust's request event)."""
        intended = context.get("intended")
        if intended is not None:
            if not self.measured(intended):
                return
            self.in_flight -= 1
        elif not self.window[0] <= start_time + response_time / 1000 < self.window[1]:
            return
        status = str(getattr(response, "status_code", 0) or 0)
        self.count += 1
        self.by_status[status] += 1
        case = context.get("case", name)
        counts = self.by_case.get(case)
        if counts is None:  # not setdefault: that builds a Counter on every request
            counts = self.by_case[case] = Counter()
        counts[status] += 1
        if exception is not None:
            self.failures += 1
            if len(self.errors) < MAX_ERROR_KINDS or str(exception) in self.errors:
                self.errors[str(exception)[:160]] += 1
            return
        if intended is None:
            _hdr.record_seconds(self.latency, response_time / 1000)
        else:
            _hdr.record_seconds(self.latency, start_time + response_time / 1000 - intended)
            _hdr.record_seconds(self.service, response_time / 1000)

    def drain(self) -> None:
        """Wait (cooperatively) until measured requests still in flight finish, or drain_s."""
        deadline = max(time.time(), self.window[1]) + self.config["drain_s"]
        while self.in_flight > 0 and time.time() < deadline:
            gevent.sleep(0.01)

    def _unsent(self) -> int:
        """Count the measured slots no user has taken yet (all users were busy)."""
        unsent = 0
        rate = self.config["rate"]
        for slot in self._slot_numbers if rate > 0 else ():
            intended = self.t0 + slot / rate
            if intended >= self.window[1]:
                break
            unsent += intended >= self.window[0]
        return unsent

    def result(self) -> dict[str, Any]:
        """Return this worker's figures for the phase, histograms encoded.

        A fixed-rate phase owes one request per measured slot: those not answered by
        now (still in flight, or never sent) count as failed, as ``incomplete``.
        """
        fixed = self.config["kind"] == "fixed"
        incomplete = self.in_flight + self._unsent() if fixed else 0
        return {
            "phase": self.config["phase"],
            "completed": self.count,
            "requests": self.count + incomplete,
            "failures": self.failures + incomplete,
            "incomplete": incomplete,
            "scheduled": self.scheduled,
            "by_status": dict(self.by_status),
            "by_case": {k: dict(v) for k, v in self.by_case.items()},
            "errors": dict(self.errors),
            "latency": _hdr.encode(self.latency),
            "service": _hdr.encode(self.service) if fixed else None,
            "send_lag": _hdr.encode(self.send_lag) if fixed else None,
            "window": list(self.window),
        }


def _standalone_config() -> PhaseConfig:
    """Return the phase used without the runner: the example body, status checks only."""
    return phase_config(
        "standalone",
        "PredictUser",
        1,
        [*mix_specs(None), health_spec(None)],
        warmup_s=0,
        duration_s=365 * 86400,
        bad_fraction=0.2,
    )


_HEALTH = Request(health_spec(None))
RECORDER = Recorder()
events.request.add_listener(RECORDER.on_request)


class _CheckedUser(FastHttpUser):
    """Base of the bench users: no think time, short timeouts, every answer checked."""

    abstract = True
    wait_time = constant(0)
    network_timeout = 10.0
    connection_timeout = 10.0

    def send(self, request: Request, context: dict[str, Any] | None = None) -> None:
        """Send request and mark it failed unless the answer is exactly the expected one."""
        with self.client.request(
            request.method,
            request.path,
            data=request.body,  # type: ignore[arg-type]  # raw bytes pass through as sent
            headers=request.headers,
            catch_response=True,
            context=request.context if context is None else {**request.context, **context},
        ) as response:
            problem = request.verdict(response)
            if problem is None:
                response.success()
            else:
                response.failure(problem)


class PredictUser(_CheckedUser):
    """Closed loop: POST the valid example to /predict, again and again."""

    @task
    def predict(self) -> None:
        """Ask for one prediction."""
        self.send(RECORDER.primary)


class HealthUser(_CheckedUser):
    """Closed loop: GET /health (server and framework alone, no body, no model)."""

    abstract = not BENCH_DRIVER  # the runner's behaviours only

    @task
    def health(self) -> None:
        """Ask whether the server is up."""
        self.send(RECORDER.health)


class InvalidMixUser(_CheckedUser):
    """Closed loop: the valid example with a share of bad bodies from the case catalogue."""

    abstract = not BENCH_DRIVER  # the runner's behaviours only

    @task
    def predict_mixed(self) -> None:
        """Send the next body of the mix; a bad one must get exactly its expected status."""
        self.send(RECORDER.next_request())


class FixedRatePredictUser(_CheckedUser):
    """Open loop: POST /predict on the worker's fixed schedule, timed from intended send."""

    abstract = not BENCH_DRIVER  # the runner's behaviours only

    @task
    def predict_on_schedule(self) -> None:
        """Take the next slot, wait until it is due, send; idle once the schedule is over."""
        intended = RECORDER.next_slot()
        if intended is None:
            gevent.sleep(IDLE_S)
            return
        gevent.sleep(max(0.0, intended - time.time()))
        if RECORDER.measured(intended):
            _hdr.record_seconds(RECORDER.send_lag, max(0.0, time.time() - intended))
        self.send(RECORDER.primary, {"intended": intended})


def on_phase(environment: Environment, msg: Message, **_: Any) -> None:
    """Take the configuration of the next phase (sent by the master before it spawns)."""
    RECORDER.configure(msg.data)
    if environment.runner is not None:
        environment.runner.send_message("fvf_ready", {"phase": msg.data["phase"]})


def on_collect(environment: Environment, msg: Message, **_: Any) -> None:
    """Send this worker's figures of the phase to the master once in-flight requests end."""
    RECORDER.drain()
    if environment.runner is not None:
        environment.runner.send_message("fvf_result", RECORDER.result())


def register_worker_messages(runner: Runner) -> None:
    """Let the bench runner configure this process's users and collect their figures."""
    runner.register_message("fvf_phase", on_phase)
    runner.register_message("fvf_collect", on_collect, concurrent=True)


@events.init.add_listener
def on_init(environment: Environment, **_: Any) -> None:
    """Register the bench runner's messages on workers."""
    if isinstance(environment.runner, WorkerRunner):
        register_worker_messages(environment.runner)


@events.test_stop.add_listener
def on_test_stop(environment: Environment, **_: Any) -> None:
    """Print exact percentiles when run on its own (``locust -f ... --headless``)."""
    if isinstance(environment.runner, LocalRunner) and RECORDER.config["phase"] == "standalone":
        figures = _hdr.figures(RECORDER.latency)
        logging.getLogger(__name__).info("exact latency (ms): %s", figures)
        print(f"requests={RECORDER.count} failures={RECORDER.failures} {figures}", file=sys.stderr)
