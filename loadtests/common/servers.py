"""Start a target of the table as a real server, wait for /health, verify /predict.

The verify step follows TechEmpower's: before any load, the answer to the example
must equal what ``shared_model.predict`` gives in-process with the same backend.
The exact bytes of the verified answers are returned, so the load generator can check
every response against them cheaply.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loadtests.common.procs import Ledger, Managed, ProcessError, Registry, free_port
from loadtests.serve import resolve
from loadtests.targets import DEFAULT_WORKERS, Target
from shared_model import EXAMPLE, Settings, get_settings, load_predictor, validate_payload

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Answers:
    """The exact bodies a verified server gives: the example's prediction and /health."""

    predict: bytes
    health: bytes


def expected_prediction(backend: str) -> dict[str, Any]:
    """Return the answer to the example computed in-process with the given backend."""
    settings = Settings(model_dir=get_settings().model_dir, backend=backend)  # type: ignore[arg-type]
    features = validate_payload(EXAMPLE).features()
    return load_predictor(settings).predict(features).as_response()


def start(
    target: Target,
    *,
    backend: str | None = None,
    workers: int = DEFAULT_WORKERS,
    cores: Sequence[int] | None = None,
    log_path: Path | None = None,
    ledger: Ledger | None = None,
    registry: Registry | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    env: dict[str, str] | None = None,
    instance: int = 1,
    label: str | None = None,
) -> tuple[Managed, str]:
    """Start target with the exact command of the table (plus FVF_BACKEND and any extra env);
    return it and its URL. Its name in the ledger is ``label`` (default: the target's name),
    the backend, and ``instance`` when it numbers a further process ("flask:onnx#2")."""
    port = port or free_port(host)
    argv, environ = resolve(target, host, port, workers)
    extra = {**(env or {}), **({"FVF_BACKEND": backend} if backend else {})}
    environ = {**environ, "PYTHONUNBUFFERED": "1", **extra}
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    label = label or target.name
    name = (f"{label}:{backend}" if backend else label) + (f"#{instance}" if instance > 1 else "")
    proc = Managed("server", name, argv, env=environ, cores=cores, log_path=log_path, ledger=ledger)
    if registry is not None:
        registry.add(proc)
    return proc, f"http://{host}:{port}"


def launch(target: Target, **options: Any) -> tuple[Managed, str]:
    """Start target (options as for ``start``) and return it once /health answers 200;
    a server that never gets there is stopped, by PID, before the error is raised."""
    proc, url = start(target, **options)
    try:
        wait_ready(url, proc, options.get("log_path"), READY_TIMEOUT_S)
    except BaseException:
        proc.stop()
        raise
    return proc, url


def wait_ready(url: str, proc: Managed | None, log_path: Path | None, timeout: float) -> None:
    """Poll GET /health until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if proc is not None and not proc.alive():
                raise ProcessError(
                    f"server exited with code {proc.popen.returncode}{_tail(log_path)}"
                )
            try:
                if client.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ProcessError(
                    f"no 200 from {url}/health after {timeout:.0f}s{_tail(log_path)}"
                )
            time.sleep(0.05)
    if proc is not None:
        proc.remember_tree()


def verify(url: str, backend: str) -> Answers:
    """Check that /predict answers the example exactly as shared_model.predict does
    (or, from the article's FastAPI app, its statement alone: ``{"prediction": ...}``)."""
    expected = expected_prediction(backend)
    body = json.dumps(EXAMPLE).encode()
    with httpx.Client(timeout=10.0) as client:
        health = client.get(f"{url}/health")
        answer = client.post(
            f"{url}/predict", content=body, headers={"Content-Type": "application/json"}
        )
    if health.status_code != 200 or health.json() != {"status": "ok"}:
        raise ProcessError(f"{url}/health answered {health.status_code} {health.text[:200]!r}")
    if answer.status_code != 200:
        raise ProcessError(f"{url}/predict answered {answer.status_code} {answer.text[:200]!r}")
    seed_shape = {"prediction": expected["prediction"]}
    if answer.json() not in (expected, seed_shape):
        raise ProcessError(
            f"{url}/predict answered {answer.text[:300]!r}, expected {json.dumps(expected)[:300]}"
            f" (shared_model.predict with the {backend} backend)"
        )
    return Answers(predict=answer.content, health=health.content)


def _tail(log_path: Path | None, lines: int = 15) -> str:
    if log_path is None or not log_path.exists():
        return ""
    text = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return f"; last lines of {log_path}:\n" + "\n".join(text) if text else ""
