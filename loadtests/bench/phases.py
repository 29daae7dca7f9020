"""The measured phases of a bench run: Locust, wrk, the open-loop ladder, matrix, overload.

``Phases`` is the half of the runner (``loadtests.bench.runner.Bench``) that measures one
target: each method runs one phase, records its figures on the target's record, appends
its row to phases.csv and logs one line. The other half (``Bench``) owns the run: the
servers, the rounds, the calibrations and summary.json.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from loadtests.bench.config import MATRIX_S, OVERLOAD_EXTRA_S, STEP_OVERHEAD_S, RunSettings
from loadtests.bench.ladder import (
    REMEASURE_FACTOR,
    STOP_FACTOR,
    TOLERANCE,
    Search,
    decide,
    search,
)
from loadtests.bench.progress import Reporter
from loadtests.bench.results import Sustained, TargetRecord, locust_figures, validity
from loadtests.bench.sampling import Sampler, summarise
from loadtests.bench.summary import Figures
from loadtests.common import hdr as _hdr
from loadtests.common import servers as _servers
from loadtests.common.net import settle
from loadtests.common.procs import Ledger, Managed, Registry
from loadtests.common.runfiles import (
    PHASE_ROW_COLUMNS,
    MatrixMeta,
    MatrixRow,
    PhaseRow,
    Step,
    append_csv,
)
from loadtests.loadgen import wrk as _wrk
from loadtests.loadgen.locust_master import LocustMaster
from loadtests.loadgen.locust_phase import PhaseConfig, phase_config
from loadtests.loadgen.openloop import StepResult
from loadtests.loadgen.stepworker import StepWorker
from loadtests.robustness.cases import CASES
from loadtests.robustness.matrix import run_matrix, write_matrix
from loadtests.robustness.overload import overload
from shared_model import EXAMPLE

# Each open-loop step is sent but not measured for this long first, so its connections are
# open and its queue settled (a queue below the knee settles within tens of ms: at 90 % load
# and 0.15 ms service, S/(1-rho)^2 = 15 ms). It was 0.2 s; the 0.1 s saved pays for about
# a quarter of wrk's second pass.
STEP_WARMUP_S = 0.1
# An answer later than this counts as dropped. 40x the default bound: such a step fails
# anyway, and an overloaded step drains for up to this long after its window (2 s cost the
# default run about 30 s in its ~40 overloaded steps).
LADDER_TIMEOUT_S = 1.0
REMEASURED = "-long"  # the phase-name suffix of a step measured again, longer
SETTLE_AFTER_LADDER_S = 30.0  # a granian worker took over 30 s to drain 8,000 req/s


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


@dataclass(frozen=True)
class Served:
    """A target's verified server, its further processes, and its noop twin (None for a
    --url run without one)."""

    real: Server
    noop: Server | None
    spares: tuple[Server, ...] = ()  # the same server's further processes (--instances)

    def instance(self, rnd: int) -> int:
        """Return the number (1 for the first) of the process that round rnd measures: they
        take turns, the first in round 1."""
        return (rnd - 1) % (1 + len(self.spares)) + 1

    def at(self, rnd: int) -> Server:
        """Return the process that round rnd measures."""
        return (self.real, *self.spares)[self.instance(rnd) - 1]


class Phases:
    """Measure one phase of one target; the run's state is the subclass's (``Bench``)."""

    s: RunSettings
    dir: Path
    reporter: Reporter
    registry: Registry
    ledger: Ledger
    matrix_rows: list[MatrixRow]
    phases_path: Path
    ladder: tuple[float, ...]

    @property
    def steps(self) -> StepWorker:
        """Return the open-loop client's worker process."""
        raise NotImplementedError

    @property
    def lg(self) -> LocustMaster:
        """Return the running load generator."""
        raise NotImplementedError

    @property
    def samples(self) -> Sampler:
        """Return the running sampler."""
        raise NotImplementedError

    def write_summary(self) -> None:
        """Rewrite summary.json with everything measured so far."""
        raise NotImplementedError

    def ladder_phase(self, tag: str, rec: TargetRecord, rnd: int, real: Server) -> None:
        """Climb the common ladder of offered rates (open loop), then bisect to the knee."""
        name = rec.info["name"]
        body = json.dumps(EXAMPLE).encode()
        steps: list[Step] = []

        def run(rate: float, seconds: float, label: str) -> tuple[StepResult, Step]:
            self.reporter.step(f"{tag} · open loop at {rate:g} req/s ({seconds:g} s)")
            if not settle(real.url):  # a failed step may have left a queue behind
                self.reporter.log(f"{tag} · {real.url} still slow before {rate:g} req/s")
            started = time.time()
            result = self.steps.run(
                real.url,
                rate,
                seconds,
                body=body,
                expected=real.answers.predict,
                seed=_seed(name, rnd, rate) + (1 if label else 0),
                warmup_s=STEP_WARMUP_S,
                timeout_s=max(LADDER_TIMEOUT_S, STOP_FACTOR * self.s.slo_ms / 1000),
            )
            resources = summarise(self.samples.window(started, time.time()), 1)
            lg_pct = max(result.client_cpu_percent, as_float(resources.get("lg_cpu_max_pct")) or 0)
            reason = validity(lg_pct, result.send_lag_p99_ms)
            result.valid = reason is None
            stem = f"r{rnd}-ladder-{rate:g}{label}"
            hdr_path = self.dir / "hdr" / name / f"{stem}.hdr"
            hdr_path.parent.mkdir(parents=True, exist_ok=True)
            hdr_path.write_text(result.latency_hdr + "\n", encoding="ascii")
            step = _step_of(result, rnd, self.s.slo_ms, reason, f"hdr/{name}/{stem}.hdr")
            self._log_step(tag, rec, rnd, step, seconds, label)
            self.reporter.advance(seconds + STEP_OVERHEAD_S)
            return result, step

        deciding: dict[float, Step] = {}

        def run_at(rate: float, longer: bool) -> StepResult:
            seconds = self.s.step_s_at(rate) * (REMEASURE_FACTOR if longer else 1.0)
            result, deciding[rate] = run(rate, seconds, REMEASURED if longer else "")
            return result

        def measure(rate: float) -> StepResult:
            # Near the bound a short window decides by luck (one stall in it, or none).
            result = decide(run_at, rate, self.s.slo_ms)
            steps.append(deciding[rate])
            return result

        outcome = search(measure, self.ladder, slo_ms=self.s.slo_ms)
        settle(real.url, timeout=SETTLE_AFTER_LADDER_S)  # an overloaded server works off its queue
        sustained = Sustained(outcome.sustainable_rps, decided(outcome), outcome.at_least)
        rec.add_steps(rnd, steps, sustained)
        for note in outcome.notes:
            self.reporter.log(f"{tag} · {note}")
        self.write_summary()

    def matrix_phase(self, name: str, url: str, pid: int | None) -> None:
        """Send every invalid-input case once; rewrite invalid_matrix.csv/.json of the run."""
        self.samples.watch(server=pid, lg=None, label=f"{name}:matrix")
        self.reporter.step(f"{name}: invalid-input matrix ({len(CASES)} cases)")
        self.matrix_rows += run_matrix(url, name, pid)
        write_matrix(self.matrix_rows, self.dir, MatrixMeta(run_id=self.dir.name, cases=len(CASES)))
        self.reporter.advance(MATRIX_S)

    def overload_phase(self, name: str, rec: TargetRecord, real: Server) -> None:
        """Drive the target at twice its peak for --overload seconds, then time its recovery."""
        self.reporter.step(f"{name}: overload, 2x peak for {self.s.overload_s:g} s")
        proc = real.proc
        result = overload(
            real.url,
            factor=2.0,
            duration=self.s.overload_s,
            is_alive=(lambda: proc.alive()) if proc is not None else None,
            target=name,
        )
        rec.overload = result.model_copy(update={"timeline": []})  # the timeline stays out
        self.reporter.advance(self.s.overload_s + OVERLOAD_EXTRA_S)

    def _config(
        self,
        phase: str,
        user_class: str,
        users: int,
        requests: list[Any],
        extra_warmup_s: float = 0.0,
        **kwargs: Any,
    ) -> PhaseConfig:
        return phase_config(
            phase,
            user_class,
            users,
            requests,
            warmup_s=self.s.warmup_s + extra_warmup_s,
            duration_s=self.s.duration_s,
            **kwargs,
        )

    def locust_phase(
        self,
        tag: str,
        rec: TargetRecord,
        rnd: int,
        section: str,
        config: PhaseConfig,
        url: str,
        key: Any = None,
    ) -> Figures:
        """Run one Locust phase and record its figures."""
        planned = config["warmup_s"] + config["duration_s"] + config["drain_s"]
        self.reporter.step(f"{tag} · {config['phase']} ({planned:.1f} s)")
        result = self.lg.run(url, config)
        samples = self.samples.window(*result["window"])
        resources = summarise(samples, len(self.s.lg_cores or ()) or 1)
        stem = f"r{rnd}-{config['phase']}"
        folder = self.dir / "hdr" / rec.info["name"]
        files = {
            k: f"hdr/{rec.info['name']}/{v}"
            for k, v in _hdr.save(_hdr.merge([result["latency"]]), folder / stem).items()
        }
        if result.get("service"):
            _hdr.save(_hdr.merge([result["service"]]), folder / f"{stem}-service")
        figures = locust_figures(config, result, resources, files, self.s.locust_workers)
        rec.add(section, figures, key)
        self._log_phase(tag, rec, rnd, section, figures, files["hdr"])
        self.reporter.advance(
            self.s.phase_s()
            + (self.s.server_warmup_s if config["warmup_s"] > self.s.warmup_s else 0)
        )
        self.write_summary()
        return figures

    def wrk_phase(
        self,
        tag: str,
        rec: TargetRecord,
        rnd: int,
        real: Server,
        connections: int,
        pass_no: int = 1,
    ) -> None:
        """Measure the peak with wrk too (an independent generator with headroom), at the
        given number of connections; a second pass of the round joins the first in the
        round's figures as their mean."""
        name = rec.info["name"]
        again = f"-pass{pass_no}" if pass_no > 1 else ""
        self.reporter.step(f"{tag} · wrk c={connections}{again}")
        figures = self._wrk(name, real, f"r{rnd}{again}", connections, self.s.duration_s)
        figures["phase"] += again
        rec.add("wrk", figures)
        fig = rec.round_figures(rnd)
        fig.wrk_samples = [*fig.wrk_samples, float(figures["rps"] or 0)]
        fig.wrk_valid = bool(figures["valid"]) and (fig.wrk_valid or pass_no == 1)
        fig.wrk_rps = round(mean(fig.wrk_samples), 1)
        cpu = [cpu_us_per_request(figures)]
        if pass_no > 1:  # the mean of the two passes, like the throughput
            cpu.append(fig.cpu_us_per_request)
        known = [c for c in cpu if c is not None]
        fig.cpu_us_per_request = round(mean(known), 1) if known else None
        locust = fig.locust_rps or 0
        ratio = locust / figures["rps"] if figures["rps"] else 0
        self._log_phase(
            tag,
            rec,
            rnd,
            "wrk",
            figures,
            figures["files"][0]["output"],
            f"  Locust/wrk {ratio:.2f}",
        )
        self.reporter.advance(max(1, round(self.s.duration_s)) + 0.3)
        self.write_summary()

    def _wrk(
        self, name: str, real: Server, stem: str, connections: int, duration_s: float
    ) -> Figures:
        sampler, lg_pid, server_pid = self.samples, self.lg.proc.pid, real.pid
        script = self.dir / "wrk" / "predict.lua"
        if not script.exists():
            _wrk.write_script(script, "POST", json.dumps(EXAMPLE).encode(), "application/json")
        out = self.dir / "wrk" / f"{name}-{stem}.txt"
        start = time.time()
        figures: Figures = _wrk.run(
            f"{real.url}/predict",
            script,
            connections=connections,
            duration_s=duration_s,
            cores=self.s.lg_cores,
            out_path=out,
            ledger=self.ledger,
            registry=self.registry,
            on_start=lambda pid: sampler.watch(server=server_pid, lg=pid, label=f"{name}:wrk"),
        ).as_dict()
        end = time.time()
        sampler.watch(server=server_pid, lg=lg_pid, label=f"{name}:onnx")
        resources = summarise(sampler.window(start, end), 1)
        reason = validity(as_float(resources.get("lg_cpu_max_pct")))
        figures.update(
            phase=f"wrk-c{connections}",
            users=connections,
            **resources,
            valid=reason is None,
            invalid_reason=reason,
            files=[{"output": f"wrk/{out.name}", "script": "wrk/predict.lua"}],
        )
        return figures

    def _log_phase(
        self,
        tag: str,
        rec: TargetRecord,
        rnd: int,
        section: str,
        fig: Figures,
        path: str,
        note: str = "",
    ) -> None:
        row = {
            **{k: fig[k] for k in PHASE_ROW_COLUMNS if fig.get(k) is not None},
            "target": rec.info["name"],
            "round": rnd,
            "section": section,
            "hdr": path,
        }
        append_csv(self.phases_path, [PhaseRow.model_validate(row)])
        bound = "" if fig.get("valid", True) else "  [yellow]INVALID (generator busy)[/yellow]"
        failures = f"  [red]{fig['failures']} failed[/red]" if fig.get("failures") else ""
        self.reporter.log(
            f"{tag:<16} {fig['phase']:<18} {fig.get('rps') or 0:>8.1f} req/s  "
            f"p50 {fig.get('p50_ms') or 0:7.2f}  p99 {fig.get('p99_ms') or 0:7.2f} ms  "
            f"lg {fig.get('lg_cpu_max_pct') or 0:>5.1f}%  "
            f"server {fig.get('server_cpu_pct') or 0:>5.1f}%{failures}{bound}{note}"
        )

    def _log_step(
        self, tag: str, rec: TargetRecord, rnd: int, step: Step, seconds: float, label: str
    ) -> None:
        row = PhaseRow(
            target=rec.info["name"],
            round=rnd,
            section="ladder",
            phase=f"ladder-{step.offered_rps:g}{label}",
            kind="open",
            path="/predict",
            offered_rps=step.offered_rps,
            duration_s=seconds,
            requests=step.sent,
            successes=step.ok,
            failures=step.failures,
            rps=step.achieved_rps,
            p50_ms=step.p50_ms,
            p99_ms=step.p99_ms,
            p999_ms=step.p999_ms,
            lg_cpu_max_pct=step.client_cpu_pct,
            valid=step.valid,
            hdr=step.hdr or "",
        )
        append_csv(self.phases_path, [row])
        verdict = "pass" if step.passed else "FAIL"
        invalid = "" if step.valid else f"  [yellow]INVALID: {step.invalid_reason}[/yellow]"
        self.reporter.log(
            f"{tag:<16} {row.phase:<18} {step.achieved_rps or 0:>8.1f} req/s  "
            f"p50 {step.p50_ms or 0:7.2f}  p99 {step.p99_ms or 0:7.2f} ms  "
            f"lg {step.client_cpu_pct or 0:>5.1f}%  {verdict}"
            f"{f'  {step.failures} failed/dropped' if step.failures else ''}{invalid}"
        )


def decided(outcome: Search) -> bool:
    """Tell whether valid steps alone fix the sustainable rate: a lower bound (the top rung
    passed) or a bracket within the search's tolerance; an invalid step that cut the
    bisection short leaves a bracket too wide to use."""
    if outcome.sustainable_rps is None:
        return False
    if outcome.at_least:
        return True
    if outcome.bracket is None:
        return False
    low, high = outcome.bracket
    return high - low <= TOLERANCE * low + 1e-9


def as_float(value: Any) -> float | None:
    """Return a number as float (None for anything else, booleans included)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _seed(name: str, rnd: int, rate: float) -> int:
    """Return a fixed seed per target, round and rate: a rerun offers the same arrivals."""
    return zlib.crc32(f"{name}:{rnd}:{rate:g}".encode())


def cpu_us_per_request(figures: Figures) -> float | None:
    """Return server CPU microseconds per answered request: cpu_pct / 100 / rps x 1e6."""
    cpu, rps = as_float(figures.get("server_cpu_pct")), as_float(figures.get("rps"))
    return round(cpu / 100.0 / rps * 1e6, 1) if cpu is not None and rps else None


def _step_of(result: StepResult, rnd: int, slo_ms: float, reason: str | None, hdr: str) -> Step:
    failures = result.failed + result.dropped
    passed = failures == 0 and result.p99_ms is not None and result.p99_ms <= slo_ms
    return Step(
        round=rnd,
        offered_rps=result.offered_rps,
        achieved_rps=round(result.achieved_rps, 1),
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        p999_ms=result.p999_ms,
        failures=failures,
        valid=reason is None,
        invalid_reason=reason,
        sent=result.sent,
        ok=result.ok,
        failed=result.failed,
        dropped=result.dropped,
        passed=passed,
        send_lag_p99_ms=result.send_lag_p99_ms,
        client_cpu_pct=round(result.client_cpu_percent, 1),
        client_cpu_us_per_request=result.client_cpu_us_per_request,
        connections_opened=result.connections_opened,
        hdr=hdr,
    )
