"""The burn backend, and the model-cost sweep run for real: its files and its cleanup."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from loadtests.bench.sweep import Sweep, main
from loadtests.common.procs import is_gone
from shared_model import EXAMPLE, Settings, validate_payload
from shared_model._predict import Predictor
from shared_model._settings import burn_microseconds

ROOT = Path(__file__).resolve().parent.parent


# -- the burn backend ------------------------------------------------------------------------


def test_burn_setting_parses_microseconds() -> None:
    settings = Settings(backend="burn:500")  # type: ignore[arg-type]
    assert settings.backend == "burn:500"
    assert burn_microseconds(settings.backend) == 500
    assert burn_microseconds("onnx") is None


def test_burn_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FVF_BACKEND", "burn:250")
    assert Settings().backend == "burn:250"


@pytest.mark.parametrize("backend", ["burn:0", "burn:-5", "burn:x", "burn:", "burn:1.5", "burn"])
def test_burn_setting_refuses_anything_but_a_positive_integer(backend: str) -> None:
    with pytest.raises(ValidationError, match="burn:"):
        Settings(backend=backend)  # type: ignore[arg-type]


def test_burn_answers_the_noop_prediction_without_a_model(tmp_path: Path) -> None:
    features = validate_payload(EXAMPLE).features()
    burn = Predictor("burn:20", tmp_path)  # an empty folder: no model is read
    assert burn.predict(features) == Predictor("noop", tmp_path).predict(features)
    assert burn.metadata == {}


# -- the sweep -------------------------------------------------------------------------------


def server_pids(run_dir: Path) -> list[int]:
    """Return every server PID (main processes and workers) the run's ledger recorded."""
    pids = []
    for line in (run_dir / "processes.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["kind"] in {"server", "wrk"}:
            pids += [event["pid"], *event.get("pids", [])]
    return pids


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_tiny_sweep_writes_what_the_model_reads_and_leaves_nothing_running(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FVF_MODEL_DIR", str(model_dir))
    run_dir = tmp_path / "run"
    argv = ["--targets", "flask,fastapi", "--costs", "noop,burn:1000", "--quick"]
    assert main([*argv, "--out", str(run_dir)]) == 0

    sweep = Sweep.read(run_dir)
    assert sweep.status == "complete"
    assert (sweep.settings.costs, sweep.settings.targets) == (
        ["noop", "burn:1000"],
        ["flask", "fastapi"],
    )
    assert sweep.model_us.keys() == {"noop", "burn:1000"}
    assert set(sweep.targets) == {"flask", "fastapi"}
    order = [(v.cost, v.round, v.target) for v in sweep.visits]
    assert order == [
        ("noop", 1, "flask"),
        ("noop", 1, "fastapi"),
        ("burn:1000", 1, "flask"),
        ("burn:1000", 1, "fastapi"),
    ]
    for visit in sweep.visits:
        assert visit.rps > 0
        assert visit.non_2xx == 0
        assert visit.health_probes > 0
        assert (run_dir / visit.wrk_output).exists()
    rps = {(v.cost, v.target): v.rps for v in sweep.visits}
    assert [(r.pair, r.cost, r.round) for r in sweep.ratios] == [
        ("default", "noop", 1),
        ("default", "burn:1000", 1),
    ]
    for ratio in sweep.ratios:
        assert (ratio.numerator, ratio.denominator) == ("fastapi", "flask")
        assert ratio.ratio == pytest.approx(
            rps[ratio.cost, "fastapi"] / rps[ratio.cost, "flask"], rel=1e-3
        )

    with (run_dir / "sweep.csv").open(newline="") as rows:
        table = list(csv.DictReader(rows))
    assert [(r["cost"], r["target"]) for r in table] == [(c, t) for c, _, t in order]
    assert [float(r["rps"]) for r in table] == [v.rps for v in sweep.visits]

    pids = server_pids(run_dir)
    assert len(pids) >= 4
    assert all(is_gone(pid) for pid in pids), "a server or wrk outlived the sweep"


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_server_that_cannot_start_fails_the_sweep_and_stops_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FVF_MODEL_DIR", str(tmp_path / "no-model"))  # onnx cannot load
    run_dir = tmp_path / "run"
    argv = ["--targets", "flask,fastapi", "--costs", "onnx", "--quick", "--out", str(run_dir)]
    assert main(argv) == 1
    sweep = Sweep.read(run_dir)
    assert sweep.status == "failed"
    assert sweep.error
    assert sweep.visits == []
    assert all(is_gone(pid) for pid in server_pids(run_dir))


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_ctrl_c_stops_every_server(tmp_path: Path, model_dir: Path) -> None:
    run_dir = tmp_path / "run"
    argv = ["--targets", "flask,fastapi", "--costs", "noop", "--rounds", "20", "--quick"]
    env = {**os.environ, "FVF_MODEL_DIR": str(model_dir)}
    sweep_proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests.bench.sweep", *argv, "--out", str(run_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "sweep.json").exists() or not Sweep.read(run_dir).visits:
            assert time.monotonic() < deadline, "the sweep measured nothing in 60 s"
            assert sweep_proc.poll() is None, "the sweep ended early"
            time.sleep(0.2)
        sweep_proc.send_signal(signal.SIGINT)
        assert sweep_proc.wait(60) == 130
    finally:
        if sweep_proc.poll() is None:
            sweep_proc.kill()
            sweep_proc.wait()
    sweep = Sweep.read(run_dir)
    assert sweep.status == "interrupted"
    assert sweep.visits
    assert all(is_gone(pid) for pid in server_pids(run_dir))
