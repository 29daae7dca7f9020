"""Start and verify one server process of a target for one visit; stop it right after.

Every visit of a bench run starts its own process of the target's server (or of its noop
twin, FVF_BACKEND=noop, for the control phase), pinned to the server cores, so while a
target is measured nothing else of the run is resident there, and the rounds sample each
process's own speed. A --url run starts nothing: it verifies the deployment (and its noop
twin, if given). A server must answer /health and give the example's exact prediction before
it is measured; one that does not is stopped by PID and the error raised.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.bench.config import RunSettings
from loadtests.common import servers as _servers
from loadtests.common.procs import Ledger, Managed, Registry
from loadtests.targets import TARGETS

URL_READY_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Server:
    """A verified server: its URL, its exact answers, and its process if this run started it."""

    url: str
    answers: _servers.Answers
    proc: Managed | None

    @property
    def pid(self) -> int | None:
        """Return the PID of the server's main process (None for a --url deployment)."""
        return self.proc.pid if self.proc is not None else None


def verified(url: str, backend: str, proc: Managed | None, log: Path | None) -> Server:
    """Wait for /health, check the answers, and return the verified server."""
    timeout = _servers.READY_TIMEOUT_S if proc is not None else URL_READY_TIMEOUT_S
    _servers.wait_ready(url, proc, log, timeout=timeout)
    return Server(url, _servers.verify(url, backend), proc)


def start_server(
    subject: str,
    backend: str,
    settings: RunSettings,
    log: Path,
    ledger: Ledger,
    registry: Registry,
    *,
    instance: int = 1,
) -> Server:
    """Start (or, for --url, find) one verified server of subject's target with backend."""
    if settings.url:
        url = settings.url if backend != "noop" else settings.noop_url
        if url is None:
            raise ValueError("a --url run has a noop twin only with --noop-url")
        return verified(url, backend, None, None)
    proc, url = _servers.start(
        TARGETS[settings.target_of(subject)],
        backend=backend,
        workers=settings.server_workers,
        cores=settings.server_cores,
        log_path=log,
        ledger=ledger,
        registry=registry,
        instance=instance,
        label=subject,
    )
    try:
        return verified(url, backend, proc, log)
    except BaseException:
        registry.stop(proc)
        raise


def stop_server(server: Server, registry: Registry) -> None:
    """Stop a server this run started (by PID, with its workers); a deployment is left alone.

    Its connections' TIME_WAIT sockets go with it (``ss -K``, as root): a server that closes
    every connection (gunicorn's sync worker, Werkzeug's) leaves about one a request for 60 s,
    tens of thousands after a visit, and the next target should not start among them. Measured
    on the 2-core VM: flask alone 1,770 req/s (median of six fresh processes) against 1,674
    with 16,500 of them left by another flask."""
    if server.proc is None:
        return
    registry.stop(server.proc)
    port = urlsplit(server.url).port
    if port and shutil.which("ss"):
        subprocess.run(
            ["ss", "-K", "-n", "-t", "state", "time-wait", "(", "sport", "=", f":{port}", ")"],
            capture_output=True,
            timeout=10,
            check=False,
        )
