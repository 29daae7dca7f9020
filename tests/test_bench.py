"""The bench CLI for real: tiny runs as subprocesses, their files, and no process left over."""

from __future__ import annotations

import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from loadtests.bench.cli import build_parser, settings_from
from loadtests.bench.config import DEFAULT, QUICK, WRK_CONNECTIONS, RunSettings
from loadtests.bench.phases import Served, Server
from loadtests.bench.summary import CPU_BENCHES, aggregate
from loadtests.common import hdr as _hdr
from loadtests.common.procs import Ledger, Managed, Registry, is_gone
from loadtests.common.runfiles import BENCHMARKS_CPU_FILE
from loadtests.common.servers import start, wait_ready
from loadtests.loadgen import wrk as _wrk
from loadtests.loadgen.stepworker import FIFO_PRIORITY, NICE_FALLBACK, NORMAL
from loadtests.targets import DEFAULT_TARGETS, QUICK_TARGETS, TARGETS

PERCENTILES = ("min_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")
TINY = [
    "--quick",
    "--levels",
    "1,8",
    "--duration",
    "0.7",
    "--warmup",
    "0.2",
    "--server-warmup",
    "0.3",
    "--rounds",
    "2",
    "--step",
    "0.4",
    "--ladder",
    "150,300",
    "--wrk-passes",
    "2",
]


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run python -m loadtests.bench with args; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "loadtests.bench", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def ledger_pids(run_dir: Path) -> list[int]:
    """Return every PID the run recorded starting (servers with their workers, Locust, wrk)."""
    pids: list[int] = []
    for line in (run_dir / "processes.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "start":
            pids.append(event["pid"])
        elif event["event"] == "children":
            pids += event["pids"]
    return pids


def phases_of(target: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every Locust phase of a target's summary entry."""
    controls = [p for p in target["controls"].values() if p]
    return [*target["sweep"], *controls, target["invalid_mix"]]


def assert_sane(phase: dict[str, Any]) -> None:
    """Check the invariants every measured phase must satisfy."""
    assert phase["requests"] == phase["successes"] + phase["failures"], phase["phase"]
    assert phase["requests"] > 0, phase["phase"]
    assert phase["rps"] > 0, phase["phase"]
    values = [phase[k] for k in PERCENTILES]
    assert all(v is not None and v > 0 for v in values), (phase["phase"], values)
    assert values == sorted(values), (phase["phase"], values)
    assert sum(phase["by_status"].values()) == phase["completed"]


@pytest.fixture(scope="module")
def env(model_dir: Path) -> dict[str, str]:
    """Return the environment of a run: the tests' model, unbuffered output."""
    return {**os.environ, "FVF_MODEL_DIR": str(model_dir), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """Run the CLI once on two targets with short phases; return its run folder."""
    out = tmp_path_factory.mktemp("results")
    done = run_cli(
        [*TINY, "--targets", "flask", "fastapi", "--bench-max-time", "0.005", "--out", str(out)],
        env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return (out / "latest").resolve()


def test_help_explains_every_option() -> None:
    parser = build_parser()
    for action in parser._actions:
        assert action.help, action.option_strings
    assert "--locust-workers" in parser.format_help()


def test_quick_preset_and_loopback_check() -> None:
    parser = build_parser()
    settings = settings_from(parser.parse_args(["--quick", "--duration", "2"]), parser)
    assert settings.quick
    assert settings.duration_s == 2
    assert settings.targets == QUICK_TARGETS  # the quick run's default: one pair
    assert settings_from(parser.parse_args([]), parser).targets == DEFAULT_TARGETS
    everything = settings_from(parser.parse_args(["--targets", "all"]), parser)
    assert everything.targets == tuple(TARGETS)
    assert settings.levels == QUICK.levels != DEFAULT.levels
    assert not settings.matrix  # a quick run leaves the matrix to `make invalid`
    default = settings_from(parser.parse_args([]), parser)
    assert (default.levels, default.duration_s) == (DEFAULT.levels, DEFAULT.duration_s)
    # wrk twice a round by default, once in a quick run, as asked otherwise.
    assert (default.wrk_passes, settings.wrk_passes) == (2, 1)
    again = settings_from(parser.parse_args(["--quick", "--wrk-passes", "2"]), parser)
    assert again.wrk_passes == 2
    assert RunSettings(wrk_passes=2).round_s(False) > RunSettings(wrk_passes=1).round_s(False)
    with pytest.raises(SystemExit):
        settings_from(parser.parse_args(["--wrk-passes", "3"]), parser)
    # Two processes of each real server by default, never more than rounds, one for --url.
    assert (default.instances, default.server_processes()) == (2, 2)
    assert settings_from(parser.parse_args(["--instances", "4"]), parser).server_processes() == 4
    assert RunSettings(instances=4, rounds=3).server_processes() == 3
    assert RunSettings(rounds=1).server_processes() == 1
    assert RunSettings(url="http://127.0.0.1:9").server_processes() == 1
    assert RunSettings(instances=2).servers_s() > RunSettings(instances=1).servers_s()
    for bad in ("0", "-1"):
        with pytest.raises(SystemExit):
            settings_from(parser.parse_args(["--instances", bad]), parser)
    with pytest.raises(SystemExit):
        settings_from(parser.parse_args(["--url", "http://example.com"]), parser)


def test_the_processes_of_a_server_take_turns_a_round() -> None:
    first, second = (Server(f"http://127.0.0.1:{p}", cast(Any, None), None) for p in (1, 2))
    served = Served(first, None, (second,))
    assert [served.at(r) for r in (1, 2, 3, 4)] == [first, second, first, second]
    assert [served.instance(r) for r in (1, 2, 3, 4)] == [1, 2, 1, 2]
    alone = Served(first, None)
    assert [alone.at(r) for r in (1, 2)] == [first, first]
    assert alone.instance(2) == 1


def test_aggregate_sums_counts_and_takes_medians() -> None:
    runs = [
        {
            "requests": 10,
            "successes": 9,
            "failures": 1,
            "rps": r,
            "users": 8,
            "by_status": {"200": 9, "500": 1},
            "load_generator_bound": b,
        }
        for r, b in ((100.0, False), (300.0, False), (200.0, True))
    ]
    out = aggregate(runs)
    assert (out["requests"], out["successes"], out["failures"]) == (30, 27, 3)
    assert out["rps"] == 200.0
    assert out["spread"]["rps"] == [100.0, 300.0]
    assert out["by_status"] == {"200": 27, "500": 3}
    assert out["load_generator_bound"] is True
    assert out["users"] == 8


def test_wrk_summary_is_parsed() -> None:
    line = (
        f'{_wrk.MARKER}{{"requests": 500, "duration_us": 1000000, "bytes": 1, "errors": '
        '{"connect": 0, "read": 0, "write": 0, "status": 2, "timeout": 0}, "latency_us": '
        '{"min": 100, "mean": 900.5, "max": 9000, "p50": 800, "p90": 1500, "p99": 5000, '
        '"p999": 8000}}'
    )
    figures = _wrk.parse(f"Running 1s test\n{line}\n", 1, 8)
    assert (figures.rps, figures.non_2xx, figures.p99_ms) == (500.0, 2, 5.0)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(150)
def test_tiny_run_writes_every_file(tiny_run: Path) -> None:
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["status"] == "complete", summary["error"]
    assert summary["environment"]["cpu_count"] >= 1
    assert summary["benchmarks"]["test_predict[onnx]"]["median_us"] > 0
    assert set(summary["targets"]) == {"flask", "fastapi"}
    for target in summary["targets"].values():
        assert target["status"] == "complete"
        for phase in phases_of(target):
            assert_sane(phase)
            # Every successful answer, and only those, is in the exact histograms (one a round).
            counts = [_hdr.load(tiny_run / f["hdr"]).get_total_count() for f in phase["files"]]
            assert sum(counts) == phase["successes"], phase["phase"]
            for files in phase["files"]:
                assert (tiny_run / files["percentiles_csv"]).read_text().startswith('"Value"')
        assert target["peak"]["users"] in (1, 8)
        assert target["wrk"]["rps"] > 0
        assert (tiny_run / target["wrk"]["files"][0]["output"]).read_text().count(_wrk.MARKER) == 1
        assert target["ratios"]["predict_to_noop"] > 0
        assert target["ratios"]["noop_to_health"] > 0
        assert target["decomposition"]["model_us"] > 0
        mix = target["invalid_mix"]
        assert set(mix["by_status"]) >= {"200", "422"}
    rows = list(csv.DictReader((tiny_run / "phases.csv").read_text().splitlines()))
    closed = [r for r in rows if r["section"] != "ladder"]
    # Round 1: the sweep's two levels, wrk twice, the health and noop controls, the invalid
    # mix; round 2: the peak level only and wrk twice.
    assert len(closed) == 2 * ((2 + 2 + 1 + 1 + 1) + (1 + 2))
    # Interleaved: every target once per round, round 1 before round 2 (phases.csv order).
    visits = [(int(r["round"]), r["target"]) for r in rows]
    order = list(dict.fromkeys(visits))
    assert order == [(1, "flask"), (1, "fastapi"), (2, "flask"), (2, "fastapi")]
    assert [int(r["round"]) for r in rows] == sorted(int(r["round"]) for r in rows)
    ladder = [r for r in rows if r["section"] == "ladder"]
    assert {(int(r["round"]), r["target"]) for r in ladder} == set(order)
    # Each round measures every target's peak (Locust, wrk) before any target's ladder, so
    # the throughput figures of a round are taken close together.
    # wrk runs again after every ladder, in the reverse order, and the round's wrk figure is
    # the mean of its two passes.
    first, again = f"wrk-c{WRK_CONNECTIONS}", f"wrk-c{WRK_CONNECTIONS}-pass2"
    for rnd in (1, 2):
        mine = [r for r in rows if int(r["round"]) == rnd]
        phases = [r["phase"] for r in mine]
        sections = [r["section"] for r in mine]
        closed_loop = [i for i, r in enumerate(mine) if r["section"] in {"sweep", "wrk"}]
        assert max(i for i in closed_loop if phases[i] != again) < sections.index("ladder")
        assert [i for i, ph in enumerate(phases) if ph == again] == [len(mine) - 2, len(mine) - 1]
        assert [r["target"] for r in mine if r["phase"] == again] == ["fastapi", "flask"]
        for name, target in summary["targets"].items():
            fig = next(f for f in target["rounds"] if f["round"] == rnd)
            measured = [
                float(r["rps"])
                for r in mine
                if r["phase"] in {first, again} and r["target"] == name
            ]
            assert fig["wrk_samples"] == pytest.approx(measured, abs=0.1)
            assert fig["wrk_rps"] == pytest.approx(sum(measured) / 2, abs=0.1)
            # CPU per request is the mean of the passes' too (server CPU % / 100 / req/s).
            cpu = [
                float(r["server_cpu_pct"]) / 100 / float(r["rps"]) * 1e6
                for r in mine
                if r["phase"] in {first, again} and r["target"] == name
            ]
            assert fig["cpu_us_per_request"] == pytest.approx(sum(cpu) / 2, rel=0.01, abs=0.2)
    # wrk runs at one concurrency for every target and round, whatever Locust's peak level.
    assert {r["phase"] for r in rows if r["section"] == "wrk"} == {first, again}
    assert [r["round"] for r in summary["rounds"]] == [1, 2]
    for info in summary["rounds"]:
        assert info["calibration_before"]["best_ms"] > 0
        assert info["calibration_after"]["best_ms"] > 0
    # Round 1's closing calibration opens round 2 (nothing runs between them).
    first_round, second_round = summary["rounds"]
    assert second_round["calibration_before"] == first_round["calibration_after"]
    assert summary["calibration"]["score"] > 0
    assert summary["ladder"] == [150.0, 300.0]
    assert summary["client_scheduling"] in {
        f"SCHED_FIFO {FIFO_PRIORITY}",
        f"nice {NICE_FALLBACK}",
        NORMAL,
    }
    for target in summary["targets"].values():
        assert [f["round"] for f in target["rounds"]] == [1, 2]
        assert [p["offered_rps"] for p in target["latency_curve"]][:1] == [150.0]
        assert target["sustainable_rps"]["slo_ms"] == 25.0
        assert target["docs"]["openapi_status"] == 200
    default = [c for c in summary["comparisons"] if c["pair"] == "default"]
    assert {c["figure"] for c in default} >= {"throughput", "sustainable", "cpu_per_request"}
    for comparison in default:
        assert set(map(int, comparison["ratios"])) | set(map(int, comparison["left_out"])) == {
            1,
            2,
        }
        assert comparison["sentence"]
    # Each target's real server ran as two processes that took turns, one a round.
    events = [json.loads(line) for line in (tiny_run / "processes.jsonl").read_text().splitlines()]
    pid_of = {e["name"]: e["pid"] for e in events if e["event"] == "start"}
    for name, target in summary["targets"].items():
        assert [f["instance"] for f in target["rounds"]] == [1, 2]
        by_round = [f["server_pid"] for f in target["rounds"]]
        assert by_round == [pid_of[f"{name}:onnx"], pid_of[f"{name}:onnx#2"]]
        assert f"{name}:noop#2" not in pid_of  # the noop twin runs once
    samples = list(csv.DictReader((tiny_run / "resources.csv").read_text().splitlines()))
    assert samples
    assert any(float(s["server_cpu_pct"] or 0) > 0 for s in samples)
    assert json.loads((tiny_run / "benchmarks.json").read_text())["benchmarks"]
    assert all(is_gone(pid) for pid in ledger_pids(tiny_run))


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(150)
def test_tiny_run_times_the_benches_on_both_clocks(tiny_run: Path) -> None:
    """benchmarks.json on the wall clock, BENCHMARKS_CPU_FILE on the CPU clock, both in
    summary.json; each target's CPU split adds up to its server CPU per request."""
    wall = json.loads((tiny_run / "benchmarks.json").read_text())["benchmarks"]
    cpu = json.loads((tiny_run / BENCHMARKS_CPU_FILE).read_text())["benchmarks"]
    assert {b["options"]["timer"] for b in wall} == {"perf_counter"}
    assert {b["options"]["timer"] for b in cpu} == {"process_time"}
    assert {b["name"] for b in cpu} == set(CPU_BENCHES)
    summary = json.loads((tiny_run / "summary.json").read_text())
    for bench in cpu:
        figures = summary["benchmarks"][bench["name"]]
        assert figures["cpu"]["median_us"] == round(bench["stats"]["median"] * 1e6, 3)
    for name, target in summary["targets"].items():
        split = target["decomposition"]["cpu"]
        per_round = [r["cpu_us_per_request"] for r in target["rounds"] if r["cpu_us_per_request"]]
        assert split["server_us"] == round(statistics.median(per_round), 3), name
        added = sum(split[k] for k in ("model_us", "validation_us", "framework_us"))
        assert added + split["server_kernel_us"] == pytest.approx(split["server_us"], abs=0.01)
        request = (
            "test_flask_request[validated]" if name == "flask" else "test_fastapi_request[def]"
        )
        assert split["in_process_us"] == summary["benchmarks"][request]["cpu"]["median_us"]
        assert (
            target["decomposition"]["in_process_us"] == summary["benchmarks"][request]["median_us"]
        )


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(90)
def test_sigint_stops_every_process_and_keeps_results(tmp_path: Path, env: dict[str, str]) -> None:
    argv = [
        sys.executable,
        "-m",
        "loadtests.bench",
        *TINY,
        "--targets",
        "flask",
        "fastapi",
        "--no-benches",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    summary_path = tmp_path / "latest" / "summary.json"
    deadline = time.monotonic() + 60
    measured = False
    while time.monotonic() < deadline and proc.poll() is None and not measured:
        time.sleep(0.2)
        try:
            measured = bool(json.loads(summary_path.read_text())["targets"]["flask"]["sweep"])
        except (OSError, ValueError, KeyError):
            continue
    assert measured, "no phase was measured before the deadline"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr[-2000:]
    run_dir = summary_path.parent.resolve()
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "interrupted"
    assert summary["targets"]["flask"]["sweep"], "the measured phase was not kept"
    for phase in summary["targets"]["flask"]["sweep"]:
        assert_sane(phase)
    started = ledger_pids(run_dir)
    assert started
    assert all(is_gone(pid) for pid in started), [p for p in started if not is_gone(p)]


@pytest.fixture
def deployment(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """Start the fastapi target twice (onnx and noop backends) as a test's own deployment."""
    registry, ledger = Registry(), Ledger(None)
    servers: list[tuple[Managed, str]] = []
    monkeypatch.setenv("FVF_MODEL_DIR", env["FVF_MODEL_DIR"])
    try:
        for backend in ("onnx", "noop"):
            proc, url = start(
                TARGETS["fastapi"],
                backend=backend,
                workers=1,
                cores=None,
                log_path=tmp_path / f"{backend}.log",
                ledger=ledger,
                registry=registry,
            )
            servers.append((proc, url))
        for proc, url in servers:
            wait_ready(url, proc, None, timeout=60)
        yield servers[0][1], servers[1][1]
    finally:
        registry.stop_all()
        for proc, _ in servers:
            assert all(is_gone(pid) for pid in proc.seen)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(90)
def test_url_mode_with_two_locust_workers(
    tmp_path: Path, env: dict[str, str], deployment: tuple[str, str]
) -> None:
    url, noop_url = deployment
    done = run_cli(
        [
            "--quick",
            "--levels",
            "4",
            "--duration",
            "0.6",
            "--warmup",
            "0.2",
            "--rounds",
            "2",
            "--step",
            "0.3",
            "--ladder",
            "100,200",
            "--no-benches",
            "--locust-workers",
            "2",
            "--url",
            url,
            "--noop-url",
            noop_url,
            "--name",
            "mine",
            "--out",
            str(tmp_path),
        ],
        env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    assert summary["mode"] == "url"
    target = summary["targets"]["mine"]
    assert target["url"] == url
    for phase in phases_of(target):
        assert_sane(phase)
        assert phase["locust_workers"] == 2
        assert phase["server_cpu_pct"] is None  # not ours to sample
    assert target["controls"]["noop"]["rps"] > 0
    assert target["wrk"]["rps"] > 0
    run_dir = (tmp_path / "latest").resolve()
    locust = [json.loads(line) for line in (run_dir / "processes.jsonl").read_text().splitlines()]
    children = [e for e in locust if e["event"] == "children" and e["kind"] == "loadgen"]
    assert sum(len(e["pids"]) for e in children) >= 2  # the two Locust workers
    assert all(is_gone(pid) for pid in ledger_pids(run_dir))
