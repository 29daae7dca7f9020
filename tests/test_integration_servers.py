"""Every target of the table as a real server: the exact command, /health, /predict, stop by PID."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from loadtests.common.procs import Ledger, Registry, is_gone
from loadtests.common.servers import start, wait_ready
from loadtests.serve import resolve
from loadtests.targets import TARGETS
from shared_model import EXAMPLE, Settings, predict, validate_payload


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", list(TARGETS))
def test_target_serves_the_contract_and_stops_by_pid(
    name: str,
    model_dir: Path,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FVF_MODEL_DIR", str(model_dir))
    target, log, registry = TARGETS[name], tmp_path / "server.log", Registry()
    proc, url = start(
        target,
        backend="onnx",
        workers=1,
        cores=None,
        log_path=log,
        ledger=Ledger(None),
        registry=registry,
    )
    try:
        wait_ready(url, proc, log, timeout=60)
        command, _ = resolve(target, "127.0.0.1", int(url.rsplit(":", 1)[1]), 1)
        assert proc.argv == command, "not the exact command of the targets table"
        expected = predict(validate_payload(EXAMPLE).features(), settings).as_response()
        with httpx.Client(base_url=url, timeout=10) as client:
            health = client.get("/health")
            answer = client.post("/predict", json=EXAMPLE)
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        if target.handler == "seed" and target.framework == "fastapi":
            # The article's FastAPI app answers the statement alone.
            expected = {"prediction": expected["prediction"]}
        assert (answer.status_code, answer.json()) == (200, expected)
        pids = proc.remember_tree()
    finally:
        registry.stop(proc)
    assert proc.pid in pids
    assert not proc.alive()
    assert all(is_gone(pid) for pid in pids), "a server process outlived its stop"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)
