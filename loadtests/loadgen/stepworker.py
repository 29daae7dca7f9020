"""The open-loop client in a process of its own, pinned to the load generator's cores.

The runner's own process also runs the resource sampler, a Python thread that wakes
every quarter second and reads many processes with psutil, holding the GIL for
milliseconds at a time. In the same process that delays the client's sends (its send-lag
p99 passes the 1 ms validity limit); in a process of its own, the client owns its GIL.

It also gets the load generator's core before anything else there: it asks for the
real-time policy SCHED_FIFO (priority 1), so the kernel runs it the moment its send timer
fires instead of when the runner, the sampler or the idle Locust driver next yield the
core. Measured on a 2-core VM (7 targets, 2 rounds, 0.8 s steps): at normal priority 30-50 %
of the ladder's steps below 2,000 req/s had a send-lag p99 above 1 ms (invalid); nice -20
left 26 of 117 invalid; SCHED_FIFO, 0 of 157. The client sleeps between sends and used at most
~55 % of its core on any step, and the kernel keeps 5 % of every second for other tasks
(``kernel.sched_rt_runtime_us``), so it cannot lock the core. Where the policy is not
allowed (not root, no CAP_SYS_NICE), it falls back to nice -10 (also privileged),
then to normal priority; the run records which (``client_scheduling`` in summary.json)
and warns when it is normal.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from loadtests.common.procs import Ledger
from loadtests.loadgen.openloop import StepResult, run_step

START_TIMEOUT_S = 60.0
SLACK_S = 30.0  # beyond the step's own length and timeouts


FIFO_PRIORITY = 1  # the lowest real-time priority: above every normal task, below the kernel's
NICE_FALLBACK = -10
NORMAL = "normal"


def raise_priority() -> str:
    """Ask for SCHED_FIFO, else a negative nice value; return what the process got."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(FIFO_PRIORITY))
        return f"SCHED_FIFO {FIFO_PRIORITY}"
    except (AttributeError, OSError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICE_FALLBACK)
        return f"nice {NICE_FALLBACK}"
    except (AttributeError, OSError):
        return NORMAL


def _prepare(cores: tuple[int, ...]) -> None:
    """Pin the worker and raise its priority; leave Ctrl-C to the runner, which stops the
    worker itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if cores:
        os.sched_setaffinity(0, cores)
    _GOT["scheduling"] = raise_priority()


_GOT = {"scheduling": NORMAL}  # in the worker process: what raise_priority got


def _identify() -> tuple[int, str]:
    return os.getpid(), _GOT["scheduling"]


class StepWorker:
    """One worker process that runs ``openloop.run_step`` on request."""

    def __init__(self, cores: Sequence[int] | None, ledger: Ledger) -> None:
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_prepare, initargs=(tuple(cores or ()),)
        )
        self.pid, self.scheduling = self._pool.submit(_identify).result(timeout=START_TIMEOUT_S)
        ledger.write(
            "start",
            kind="loadgen",
            name="open-loop client",
            pid=self.pid,
            cores=cores,
            scheduling=self.scheduling,
        )

    def run(self, url: str, rate: float, duration_s: float, **options: Any) -> StepResult:
        """Run one open-loop step in the worker and return its result."""
        future = self._pool.submit(run_step, url, rate, duration_s, **options)
        result: StepResult = future.result(timeout=duration_s + SLACK_S)
        return result

    def close(self) -> None:
        """Let the step under way finish, then stop the worker."""
        self._pool.shutdown(wait=True, cancel_futures=True)
