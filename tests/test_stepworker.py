"""The open-loop client's process: pinned, ahead of everything else on its core, and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.common.procs import Ledger
from loadtests.loadgen import stepworker
from loadtests.loadgen.stepworker import NICE_FALLBACK, NORMAL, StepWorker, raise_priority


def test_the_worker_has_the_priority_it_reports(tmp_path: Path) -> None:
    """Whatever the machine allows, the policy recorded is the one the kernel applied, and
    where this machine allows SCHED_FIFO (a child process tries it), the worker has it."""
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))"
    allowed = subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0
    ledger_path = tmp_path / "processes.jsonl"
    worker = StepWorker(None, Ledger(ledger_path))
    try:
        assert worker.scheduling.startswith("SCHED_FIFO") is allowed
        policy = os.sched_getscheduler(worker.pid)
        nice = os.getpriority(os.PRIO_PROCESS, worker.pid)
        if worker.scheduling.startswith("SCHED_FIFO"):
            assert policy == os.SCHED_FIFO
            assert os.sched_getparam(worker.pid).sched_priority == stepworker.FIFO_PRIORITY
        elif worker.scheduling.startswith("nice"):
            assert policy == os.SCHED_OTHER
            assert nice == NICE_FALLBACK
        else:
            assert worker.scheduling == NORMAL
            assert policy == os.SCHED_OTHER
            assert nice == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        worker.close()
    events = [json.loads(line) for line in ledger_path.read_text().splitlines()]
    assert events[0]["pid"] == worker.pid
    assert events[0]["scheduling"] == worker.scheduling


def test_priority_falls_back_where_it_is_not_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real-time policy allowed: a negative nice value; neither: normal, and no error."""
    asked: list[int] = []

    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    monkeypatch.setattr(os, "setpriority", lambda _which, _who, value: asked.append(value))
    assert raise_priority() == f"nice {NICE_FALLBACK}"
    assert asked == [NICE_FALLBACK]
    monkeypatch.setattr(os, "setpriority", refuse)
    assert raise_priority() == NORMAL
