"""The bench CLI for real: tiny runs as subprocesses, their files, and no process left over."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from loadtests.bench.cli import settings_from
from loadtests.bench.config import DEFAULT, QUICK, WRK_CONNECTIONS, RunSettings, aa_twin
from loadtests.bench.ladder import Climb
from loadtests.bench.options import build_parser
from loadtests.bench.progress import Reporter
from loadtests.bench.results import SATURATION_LIMIT_PCT
from loadtests.bench.runner import Bench, visit_order
from loadtests.bench.serving import start_server, stop_server
from loadtests.bench.stability import recomputed
from loadtests.bench.summary import CPU_BENCHES, aggregate
from loadtests.common import hdr as _hdr
from loadtests.common.procs import Ledger, Managed, Registry, is_gone
from loadtests.common.runfiles import BENCHMARKS_CPU_FILE, RoundInfo, read_summary
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
        timeout=300,
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
    # wrk twice a visit by default, once in a quick run, as asked otherwise.
    assert (default.wrk_passes, settings.wrk_passes) == (2, 1)
    again = settings_from(parser.parse_args(["--quick", "--wrk-passes", "2"]), parser)
    assert again.wrk_passes == 2
    assert RunSettings(wrk_passes=2).visit_s(False) > RunSettings(wrk_passes=1).visit_s(False)
    with pytest.raises(SystemExit):
        settings_from(parser.parse_args(["--wrk-passes", "3"]), parser)
    # One fresh process a visit by default; more are measured by wrk and cost time.
    assert default.instances == 1
    assert settings_from(parser.parse_args(["--instances", "3"]), parser).instances == 3
    assert RunSettings(instances=2).visit_s(False) > RunSettings(instances=1).visit_s(False)
    with pytest.raises(SystemExit):
        settings_from(parser.parse_args(["--url", "http://example.com"]), parser)


def test_the_aa_control_is_in_every_run_that_measures_its_target() -> None:
    parser = build_parser()
    default = settings_from(parser.parse_args([]), parser)
    assert default.aa == "fastapi"
    assert default.subjects == (*DEFAULT_TARGETS, aa_twin("fastapi"))
    assert default.target_of(aa_twin("fastapi")) == "fastapi"
    assert default.target_of("flask") == "flask"
    quick = settings_from(parser.parse_args(["--quick"]), parser)
    assert quick.subjects == ("flask", "fastapi", "fastapi-aa")
    assert settings_from(parser.parse_args(["--aa", "none"]), parser).aa is None
    alone = settings_from(parser.parse_args(["--targets", "flask"]), parser)
    assert alone.aa is None  # FastAPI is not measured: no default control
    assert settings_from(parser.parse_args(["--aa", "flask"]), parser).aa == "flask"
    url = settings_from(parser.parse_args(["--url", "http://127.0.0.1:9"]), parser)
    assert (url.aa, url.subjects, url.instances) == (None, ("url",), 1)
    # The A/A twin's visits are planned like its original's, without round 1's Locust part.
    assert default.visit_s(True, twin=True) < default.visit_s(True)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--aa", "flask-seed"], "--aa flask-seed: not a target of this run"),
        (["--slo-ms", "0"], "--slo-ms: expected a positive number"),
        (["--slo-ms", "fast"], "--slo-ms: expected a positive number"),
        (["--slo-ms", "nan"], "--slo-ms: expected a positive number"),
        (["--confidence", "1"], "--confidence: expected a number in (0, 1)"),
        (["--confidence", "0"], "--confidence: expected a number in (0, 1)"),
        (["--instances", "0"], "--rounds, --instances and --server-workers must be at least 1"),
        (["--spare-rounds", "-1"], "--spare-rounds must not be negative"),
        (["--ladder", "500,250"], "rates must be positive and increasing"),
    ],
)
def test_bad_settings_are_refused_in_one_line_before_anything_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exit_info:
        settings_from(parser.parse_args(argv), parser)
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert message in errors[0]


def test_visits_rotate_a_place_a_round() -> None:
    names = ("flask", "fastapi", "fastapi-aa")
    orders = [visit_order(names, r) for r in (1, 2, 3, 4)]
    assert orders[0] == list(names)
    assert orders[1] == ["fastapi", "fastapi-aa", "flask"]
    assert orders[3] == orders[0]
    assert [o[0] for o in orders[:3]] == list(names)  # each target first once


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
    assert set(summary["targets"]) == {"flask", "fastapi", "fastapi-aa"}
    assert summary["targets"]["fastapi-aa"]["twin_of"] == "fastapi"
    for name in ("flask", "fastapi"):
        target = summary["targets"][name]
        assert target["status"] == "complete"
        for phase in phases_of(target):
            assert_sane(phase)
            # Every successful answer, and only those, is in the exact histograms.
            counts = [_hdr.load(tiny_run / f["hdr"]).get_total_count() for f in phase["files"]]
            assert sum(counts) == phase["successes"], phase["phase"]
            for files in phase["files"]:
                assert (tiny_run / files["percentiles_csv"]).read_text().startswith('"Value"')
        assert target["peak"]["users"] in (1, 8)
        assert target["wrk"]["rps"] > 0
        assert (tiny_run / target["wrk"]["files"][0]["output"]).read_text().count(_wrk.MARKER) == 1
        assert target["ratios"]["predict_to_noop"] > 0
        assert target["decomposition"]["model_us"] > 0
        assert set(target["invalid_mix"]["by_status"]) >= {"200", "422"}
        assert target["docs"]["openapi_status"] == 200
    rows = list(csv.DictReader((tiny_run / "phases.csv").read_text().splitlines()))
    # Every subject once a round, each visit in one piece, the order rotating a place a round.
    visits = [(int(r["round"]), r["target"]) for r in rows]
    order = list(dict.fromkeys(visits))
    assert order == [
        (1, "flask"), (1, "fastapi"), (1, "fastapi-aa"),
        (2, "fastapi"), (2, "fastapi-aa"), (2, "flask"),
    ]  # fmt: skip
    assert [v for i, v in enumerate(visits) if i == 0 or visits[i - 1] != v] == order
    first, again = f"wrk-c{WRK_CONNECTIONS}", f"wrk-c{WRK_CONNECTIONS}-pass2"
    twin = [r["phase"] for r in rows if r["target"] == "fastapi-aa" and r["round"] == "1"]
    assert twin[0] == first
    assert twin[-1] == again
    assert all(p.startswith(("wrk", "ladder")) for p in twin)
    for ((rnd, name),) in zip(order, strict=True):
        mine = [r for r in rows if (int(r["round"]), r["target"]) == (rnd, name)]
        assert mine[0]["phase"] == first  # wrk first, on the warmed-up fresh process
        assert mine[-1]["phase"] == again  # and again at the end of the visit
        fig = next(f for f in summary["targets"][name]["rounds"] if f["round"] == rnd)
        passes = [r for r in mine if r["section"] == "wrk"]
        measured = [float(r["rps"]) for r in passes]
        assert fig["wrk_samples"] == pytest.approx(measured, abs=0.1)
        # Every pass says what share of its core the server got; below the limit it is
        # invalid, and the round's figure is the mean of the valid passes (all while none is).
        for r in passes:
            assert 0 < float(r["server_share_pct"]) < 150
            if float(r["server_share_pct"]) < SATURATION_LIMIT_PCT:
                assert r["valid"] == "False"
                assert "of its cores" in r["invalid_reason"]
        assert fig["wrk_samples_valid"] == [r["valid"] == "True" for r in passes]
        counted = [float(r["rps"]) for r in passes if r["valid"] == "True"] or measured
        assert fig["wrk_rps"] == pytest.approx(sum(counted) / len(counted), abs=0.1)
        assert fig["warmup_rps"] > 0  # the fresh process's uncounted first second, kept
        # CPU per request is user plus kernel time (psutil, the server's process tree).
        assert fig["user_us"] > 0
        assert fig["kernel_us"] > 0
        assert fig["cpu_us_per_request"] == pytest.approx(
            fig["user_us"] + fig["kernel_us"], abs=0.15
        )
        assert fig["connections_per_request"] is not None
    # gunicorn's sync worker closes every connection; uvicorn keeps wrk's 32 open.
    assert summary["targets"]["flask"]["cpu_split"]["connections_per_request"] > 0.9
    assert summary["targets"]["fastapi"]["cpu_split"]["connections_per_request"] < 0.1
    # Rounds 2... measure exactly the rungs fixed after round 1, and each pair's rung is one
    # of them for both sides (the same rung in every round).
    for name, target in summary["targets"].items():
        fixed = sorted(
            r["offered_rps"]
            for r in target["rungs"]
            if {"knee window", "headline", "recovery"} & set(r["roles"])
            or any(role.startswith("pair ") for role in r["roles"])
        )
        later = [
            float(r["offered_rps"])
            for r in rows
            if r["target"] == name and r["section"] == "ladder" and r["round"] == "2"
        ]
        assert later == fixed, name
    assert summary["pair_rungs"]
    for pair, rate in summary["pair_rungs"].items():
        found = next(p for p in summary["pairs"] if p["name"] == pair)
        for side in (found["numerator"], found["denominator"]):
            rung = next(r for r in summary["targets"][side]["rungs"] if r["offered_rps"] == rate)
            assert [r["round"] for r in rung["rounds"]] == [1, 2]
    # Every visit ran on a process of its own: a new server PID every round, all stopped.
    events = [json.loads(line) for line in (tiny_run / "processes.jsonl").read_text().splitlines()]
    for name, target in summary["targets"].items():
        pids = [f["server_pid"] for f in target["rounds"]]
        assert len(set(pids)) == len(pids) == 2, name
        started = {
            e["pid"] for e in events if e["event"] == "start" and e["name"] == f"{name}:onnx"
        }
        assert set(pids) <= started
    noop = [e for e in events if e["event"] == "start" and e["name"].endswith(":noop")]
    assert sorted(e["name"] for e in noop) == ["fastapi:noop", "flask:noop"]  # round 1 only
    assert summary["ladder"] == [150.0, 300.0]
    assert summary["headline_rung"] in (150.0, 300.0)
    for target in summary["targets"].values():
        assert [f["round"] for f in target["rounds"]] == [1, 2]
        assert [p["offered_rps"] for p in target["latency_curve"]][:1] == [150.0]
        assert target["sustainable_rps"]["slo_ms"] == 25.0
    # The comparisons: the A/A control first, every figure of the default pair.
    assert summary["pairs"][0]["name"] == "aa"
    assert summary["pairs"][0]["kind"] == "control"
    default = {c["figure"] for c in summary["comparisons"] if c["pair"] == "default"}
    assert default >= {"throughput", "sustainable", "p99", "p50", "cpu_per_request"}
    assert {c["figure"] for c in summary["comparisons"] if c["pair"] == "aa"} >= {"throughput"}
    # Each target alone after the rounds: the standalone pass and its system calls.
    for name in ("flask", "fastapi"):
        alone = summary["targets"][name]["alone"]
        assert alone["wrk_rps"] > 0
        assert alone["ratio"] == pytest.approx(alone["run_wrk_rps"] / alone["wrk_rps"], rel=0.01)
        assert alone["run_wrk_low"] <= alone["run_wrk_rps"] <= alone["run_wrk_high"]
        assert alone["machine_off"] is not None  # the core was calibrated before the passes
        # Two targets and two rounds: too few to read the machine's shift or one more
        # round's spread, so a gap past the tolerance is "unknown", never "the run".
        assert alone["machine_shift"] is None
        assert alone["one_more_low"] is None
        assert alone["gap_cause"] == (None if alone["agrees"] else "unknown")
        assert alone["syscalls_per_request"] > 0, alone["note"]
        assert alone["server_pid"] not in {
            f["server_pid"] for f in summary["targets"][name]["rounds"]
        }
    assert summary["targets"]["fastapi-aa"]["alone"] is None
    timing = summary["timing"]
    assert timing["open_loop_steps"] == sum(1 for r in rows if r["section"] == "ladder")
    assert 0 < timing["open_loop_measured_s"] < timing["open_loop_wall_s"]
    assert [r["round"] for r in summary["rounds"]] == [1, 2]
    first_round, second_round = summary["rounds"]
    assert second_round["calibration_before"] == first_round["calibration_after"]
    assert summary["calibration"]["score"] > 0
    assert summary["client_scheduling"] in {
        f"SCHED_FIFO {FIFO_PRIORITY}",
        f"nice {NICE_FALLBACK}",
        NORMAL,
    }
    samples = list(csv.DictReader((tiny_run / "resources.csv").read_text().splitlines()))
    assert any(float(s["server_cpu_pct"] or 0) > 0 for s in samples)
    assert json.loads((tiny_run / "benchmarks.json").read_text())["benchmarks"]
    assert all(is_gone(pid) for pid in ledger_pids(tiny_run))


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_ladder_above_a_targets_peak_is_refused_and_nothing_is_left(
    tmp_path: Path, env: dict[str, str]
) -> None:
    done = run_cli(
        [
            *TINY,
            "--targets",
            "flask",
            "--ladder",
            "1000000",
            "--no-benches",
            "--out",
            str(tmp_path),
        ],
        env,
    )
    assert done.returncode == 1
    assert "--ladder starts at 1e+06 req/s, above flask's peak" in done.stderr
    assert "Traceback" not in done.stderr
    run_dir = (tmp_path / "latest").resolve()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "failed"
    assert all(is_gone(pid) for pid in ledger_pids(run_dir))


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


@pytest.mark.integration
@pytest.mark.skipif(os.geteuid() != 0, reason="destroying sockets (ss -K) needs root")
def test_a_stopped_server_leaves_no_time_wait_behind(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn's sync worker closes every connection: its TIME_WAIT sockets go when it does."""
    monkeypatch.setenv("FVF_MODEL_DIR", env["FVF_MODEL_DIR"])
    registry, ledger = Registry(), Ledger(None)
    server = start_server("flask", "onnx", RunSettings(), tmp_path / "flask.log", ledger, registry)
    port = server.url.rsplit(":", 1)[1]
    script = _wrk.write_script(tmp_path / "p.lua", "POST", b'{"x": 1}', "application/json")
    _wrk.run(f"{server.url}/predict", script, connections=8, duration_s=1, cores=None,
             out_path=tmp_path / "w.txt", ledger=ledger, registry=registry)  # fmt: skip

    def waiting() -> int:
        out = subprocess.run(
            ["ss", "-H", "-n", "-t", "state", "time-wait", "(", "sport", "=", f":{port}", ")"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return len(out.splitlines())

    assert waiting() > 100  # one a request (a 422 answer each: the body is not the contract's)
    stop_server(server, registry)
    assert waiting() == 0
    assert server.proc is not None
    assert is_gone(server.proc.pid)


def test_a_flagged_round_is_replaced_by_a_spare_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One more round for each flagged one, at most --spare-rounds; none for a clean run."""
    settings = RunSettings(targets=("flask",), rounds=4, spare_rounds=3, benches=False)
    bench = Bench(settings, tmp_path, Reporter(1.0, Console(file=io.StringIO())))
    flagged = {1: ["steal"], 3: ["drift"]}
    ran: list[int] = []

    def rounds() -> list[RoundInfo]:
        return [
            RoundInfo(round=r, started_at="t", flags=flagged.get(r, []))
            for r in range(1, 5 + len(ran))
        ]

    monkeypatch.setattr(bench, "rounds", rounds)
    monkeypatch.setattr(bench, "run_round", ran.append)
    bench.spare_rounds()
    assert ran == [5, 6]  # two flagged, two spares, though three were allowed
    ran.clear()
    flagged.clear()
    bench.spare_rounds()
    assert ran == []


def test_rungs_placed_by_a_disturbed_round_one_are_warned_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 1's climbs fix every target's rungs: when it was flagged, the run says so."""
    settings = RunSettings(targets=("flask",), rounds=4, benches=False)
    bench = Bench(settings, tmp_path, Reporter(1.0, Console(file=io.StringIO())))
    flags: list[str] = []
    monkeypatch.setattr(bench, "rounds", lambda: [RoundInfo(round=1, started_at="t", flags=flags)])
    bench.records["flask"].climb = Climb()
    before = list(bench.warnings)
    bench.warn_if_placed_by_a_disturbed_round()
    assert bench.warnings == before
    flags.append("steal time 17.5 % of a core during the round (limit 5 %)")
    bench.warn_if_placed_by_a_disturbed_round()
    [new] = bench.warnings[len(before) :]
    assert new.startswith("round 1, whose climbs fixed every target's rungs")
    assert "steal time 17.5 %" in new


def test_recomputing_a_run_with_its_own_code_gives_back_its_comparisons(tiny_run: Path) -> None:
    """`stability --recompute` reads the rungs and latency histograms a run stored and
    compares again: with the code that made the run, every comparison comes back the same,
    the pooled p99 and p50 from the hdr/ files included."""
    stored = read_summary(tiny_run)
    again = recomputed(tiny_run, stored)
    assert stored.comparisons
    assert any(c.figure == "p99" for c in stored.comparisons)
    assert again.comparisons == stored.comparisons
