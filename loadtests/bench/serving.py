"""Start and verify one target's servers for a bench run.

Its real server runs as ``settings.server_processes()`` processes (``--instances``) and its
noop twin (FVF_BACKEND=noop) as one, all started together and pinned to the server cores
(an idle server costs nothing). A --url run starts nothing: it verifies the deployment
(and its noop twin, if given). Each server must answer /health and give the example's
exact prediction before it is measured; if one fails, the others are stopped by PID.
"""

from __future__ import annotations

from pathlib import Path

from loadtests.bench.config import RunSettings
from loadtests.bench.phases import Served, Server
from loadtests.common import servers as _servers
from loadtests.common.procs import Ledger, Managed, Registry
from loadtests.targets import TARGETS


def verified(url: str, backend: str, proc: Managed | None, log: Path | None) -> Server:
    """Wait for /health, check the answers, and return the verified server."""
    timeout = _servers.READY_TIMEOUT_S if proc is not None else 15.0
    _servers.wait_ready(url, proc, log, timeout=timeout)
    return Server(url, _servers.verify(url, backend), proc)


def start_served(
    name: str, settings: RunSettings, log_dir: Path, ledger: Ledger, registry: Registry
) -> Served:
    """Start (or, for --url, find) target name's servers; return them verified."""
    if settings.url:
        real = verified(settings.url, "onnx", None, None)
        noop = verified(settings.noop_url, "noop", None, None) if settings.noop_url else None
        return Served(real, noop)
    wanted = [("onnx", n) for n in range(1, settings.server_processes() + 1)] + [("noop", 1)]
    started = []
    for backend, instance in wanted:
        suffix = f"-{instance}" if instance > 1 else ""
        log = log_dir / f"{name}-{backend}{suffix}.log"
        proc, url = _servers.start(
            TARGETS[name],
            backend=backend,
            workers=settings.server_workers,
            cores=settings.server_cores,
            log_path=log,
            ledger=ledger,
            registry=registry,
            instance=instance,
        )
        started.append((proc, url, backend, log))
    try:
        servers = [verified(u, b, p, log) for p, u, b, log in started]
    except BaseException:
        for proc, *_ in started:
            registry.stop(proc)
        raise
    *reals, noop = servers
    return Served(reals[0], noop, tuple(reals[1:]))
