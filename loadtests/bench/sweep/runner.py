"""Run the sweep: start the servers at each model cost, then visit each target round after round."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loadtests.bench.sweep.files import (
    DISTURBED_PCT,
    Ending,
    Sweep,
    SweepSettings,
    TargetInfo,
    Visit,
)
from loadtests.bench.sweep.probe import CoreMeter, HealthProbe
from loadtests.bench.sweep.tables import paired_ratios
from loadtests.common import servers as _servers
from loadtests.common.hdr import of_seconds
from loadtests.common.net import loopback
from loadtests.common.procs import Ledger, Managed, ProcessError, Registry
from loadtests.loadgen import wrk as _wrk
from loadtests.targets import get_target
from shared_model import EXAMPLE, Settings, load_predictor, validate_payload

MODEL_TIMING_S = 0.2


def utc_now() -> str:
    """Return the current UTC time in ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def model_cost_us(backend: str) -> float:
    """Return the median CPU time of one in-process predict with backend, in microseconds
    (CPU time, not wall time, so that other processes on the machine do not inflate it)."""
    predictor = load_predictor(Settings(backend=backend))  # type: ignore[arg-type]
    features = validate_payload(EXAMPLE).features()
    times: list[float] = []
    deadline = time.perf_counter() + MODEL_TIMING_S
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.thread_time_ns()
        predictor.predict(features)
        times.append((time.thread_time_ns() - start) / 1000)
    return round(statistics.median(times), 1)


class Sweeper:
    """Runs the sweep into one run folder, keeping every partial result."""

    def __init__(self, settings: SweepSettings, run_dir: Path) -> None:
        self.s = settings
        self.dir = run_dir
        self.registry = Registry()
        self.ledger = Ledger(run_dir / "processes.jsonl")
        self.script = _wrk.write_script(
            run_dir / "wrk" / "predict.lua",
            "POST",
            json.dumps(EXAMPLE).encode(),
            "application/json",
        )
        self.started = time.monotonic()
        self.sweep = Sweep(
            run_id=run_dir.name,
            started_at=utc_now(),
            settings=settings,
            targets={
                name: TargetInfo(
                    name=name,
                    framework=t.framework,
                    handler=t.handler,
                    server=t.server,
                    description=t.description,
                    command=t.command(),
                )
                for name in settings.targets
                for t in [get_target(name)]
            },
            model_us={},
        )
        self.save()

    def save(self) -> None:
        """Rewrite sweep.json and sweep.csv with everything measured so far."""
        self.sweep.wall_s = round(time.monotonic() - self.started, 1)
        self.sweep.ratios = paired_ratios(self.sweep.visits, self.s.targets)
        self.sweep.write(self.dir)

    def run(self) -> None:
        """For each cost: start every target, then visit each in turn, round after round."""
        for cost in self.s.costs:
            with self.servers(cost) as started:
                self.sweep.model_us[cost] = model_cost_us(cost)
                for rnd in range(1, self.s.rounds + 1):
                    for name in self.s.targets:
                        visit = self.visit(cost, rnd, name, *started[name])
                        self.sweep.visits.append(visit)
                        self.save()
                        print(_visit_line(visit), flush=True)

    def finish(self, status: Ending, error: str | None) -> None:
        """Stop every process this sweep started and record how it ended."""
        try:
            self.registry.stop_all()
        finally:
            self.sweep.status, self.sweep.error = status, error
            self.sweep.finished_at = utc_now()
            self.save()

    @contextmanager
    def servers(self, cost: str) -> Iterator[dict[str, tuple[str, Managed]]]:
        """Start every target with FVF_BACKEND=cost, verify and warm each, pin them; stop them.

        They start unpinned (all cores, so the imports overlap) and are moved, every
        thread, onto the server core(s) once ready; threads started later inherit that.
        """
        started: list[tuple[str, Managed, str, Path]] = []
        try:
            for name in self.s.targets:
                log = self.dir / "logs" / f"{name}-{cost.replace(':', '-')}.log"
                proc, url = _servers.start(
                    get_target(name),
                    backend=cost,
                    log_path=log,
                    ledger=self.ledger,
                    registry=self.registry,
                )
                started.append((name, proc, url, log))
            for _, proc, url, log in started:
                _servers.wait_ready(url, proc, log, _servers.READY_TIMEOUT_S)
                _servers.verify(url, cost)
                if self.s.server_cores:
                    proc.pin(self.s.server_cores)
                warm_up(url, self.s.warmup_s)
            yield {name: (url, proc) for name, proc, url, _ in started}
        finally:
            for _, proc, _, _ in started:
                self.registry.stop(proc)

    def visit(self, cost: str, rnd: int, name: str, url: str, proc: Managed) -> Visit:
        """Measure one target once: wrk on /predict with the /health probe alongside."""
        out = self.dir / "wrk" / f"{cost.replace(':', '-')}-r{rnd}-{name}.txt"
        probe = HealthProbe(url, self.s.probe_rate, self.s.lg_cores)
        meter = CoreMeter(proc, self.s.server_cores)
        probe.start()
        try:
            figures = _wrk.run(
                f"{url}/predict",
                self.script,
                connections=self.s.connections,
                duration_s=self.s.duration_s,
                cores=self.s.lg_cores,
                out_path=out,
                ledger=self.ledger,
                registry=self.registry,
            )
        finally:
            probe.finish()
        server_pct, intruder_pct = meter.read()
        health = of_seconds(probe.latencies_s)
        return Visit(
            cost=cost,
            round=rnd,
            target=name,
            rps=figures.rps,
            requests=figures.requests,
            non_2xx=figures.non_2xx,
            socket_errors=figures.socket_errors,
            p50_ms=figures.p50_ms,
            p99_ms=figures.p99_ms,
            health_probes=len(probe.latencies_s) + probe.errors,
            health_errors=probe.errors,
            health_p50_ms=health["p50_ms"],
            health_p99_ms=health["p99_ms"],
            health_max_ms=health["max_ms"],
            server_cpu_pct=server_pct,
            intruder_cpu_pct=intruder_pct,
            disturbed=intruder_pct is not None and intruder_pct > DISTURBED_PCT,
            wrk_output=str(out.relative_to(self.dir)),
        )


def warm_up(url: str, seconds: float) -> None:
    """Send the example to /predict one request after another for a while; check each."""
    host, port = loopback(url)
    body = json.dumps(EXAMPLE).encode()
    headers = {"Content-Type": "application/json"}
    conn = http.client.HTTPConnection(host, port, timeout=10)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            conn.request("POST", "/predict", body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise ProcessError(f"{url}/predict answered {response.status} during warm-up")
    finally:
        conn.close()


def _visit_line(v: Visit) -> str:
    health = f"{v.health_p99_ms:8.1f}" if v.health_p99_ms is not None else "       -"
    errors = f"  {v.non_2xx} non-2xx" if v.non_2xx else ""
    if v.disturbed:
        errors += f"  DISTURBED: others used {v.intruder_cpu_pct:.0f} % of the server core"
    return (
        f"{v.cost:<10} r{v.round}  {v.target:<16} {v.rps:>8.1f} req/s  p99 {v.p99_ms:7.1f} ms"
        f"  /health p99 {health} ms ({v.health_errors} failed)"
        f"  server {v.server_cpu_pct or 0:5.1f} %{errors}"
    )
