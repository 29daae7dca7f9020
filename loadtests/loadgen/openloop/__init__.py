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

Modules, in import order: ``_http`` (the bytes), ``_clock`` (the timerfd), ``_conn`` (a
request and a connection), ``_step`` (one step's engine), ``_result`` (what a step reports),
``_run`` (the schedule and ``run_step``).
"""

from loadtests.loadgen.openloop._http import build_request, parse_response
from loadtests.loadgen.openloop._result import Measure, StepResult
from loadtests.loadgen.openloop._run import (
    MAX_CONNECTIONS,
    TIMEOUT_S,
    WARMUP_S,
    poisson_schedule,
    run_step,
)

__all__ = [
    "MAX_CONNECTIONS",
    "TIMEOUT_S",
    "WARMUP_S",
    "Measure",
    "StepResult",
    "build_request",
    "parse_response",
    "poisson_schedule",
    "run_step",
]
