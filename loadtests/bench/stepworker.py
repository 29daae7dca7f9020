"""The open-loop client in a process of its own, pinned to the load generator's cores.

The runner's own process also runs the resource sampler, a Python thread that wakes
every quarter second and reads many processes with psutil, holding the GIL for
milliseconds at a time. In the same process that delays the client's sends (its send-lag
p99 passes the 1 ms validity limit); in a process of its own, the client owns its GIL.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from loadtests.bench.openloop import StepResult, run_step
from loadtests.common.procs import Ledger

START_TIMEOUT_S = 60.0
SLACK_S = 30.0  # beyond the step's own length and timeouts


def _prepare(cores: tuple[int, ...]) -> None:
    """Pin the worker; leave Ctrl-C to the runner, which stops the worker itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if cores:
        os.sched_setaffinity(0, cores)


class StepWorker:
    """One worker process that runs ``openloop.run_step`` on request."""

    def __init__(self, cores: Sequence[int] | None, ledger: Ledger) -> None:
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_prepare, initargs=(tuple(cores or ()),)
        )
        self.pid: int = self._pool.submit(os.getpid).result(timeout=START_TIMEOUT_S)
        ledger.write("start", kind="loadgen", name="open-loop client", pid=self.pid, cores=cores)

    def run(self, url: str, rate: float, duration_s: float, **options: Any) -> StepResult:
        """Run one open-loop step in the worker and return its result."""
        future = self._pool.submit(run_step, url, rate, duration_s, **options)
        result: StepResult = future.result(timeout=duration_s + SLACK_S)
        return result

    def close(self) -> None:
        """Let the step under way finish, then stop the worker."""
        self._pool.shutdown(wait=True, cancel_futures=True)
