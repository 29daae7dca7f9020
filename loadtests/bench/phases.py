"""The measured closed-loop phases of a bench run: Locust, wrk (with the CPU split), the
invalid-input matrix and the overload run.

``Phases`` is the part of the runner (``loadtests.bench.runner.Bench``) that measures one
phase of one target: each method runs one phase, records its figures on the target's record,
appends its row to phases.csv and logs one line. ``steps.LadderSteps`` measures the open-loop
steps, ``visit.Visits`` orders a target's phases in a round, and ``Bench`` owns the run: the
rounds, the calibrations and summary.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from loadtests.bench import cpu as _cpu
from loadtests.bench.config import MATRIX_S, OVERLOAD_EXTRA_S, WRK_CONNECTIONS, RunSettings
from loadtests.bench.progress import Reporter
from loadtests.bench.results import SPLIT_KEYS, TargetRecord, locust_figures, validity
from loadtests.bench.sampling import Sampler, summarise
from loadtests.bench.serving import Server
from loadtests.bench.summary import Figures
from loadtests.common import hdr as _hdr
from loadtests.common.procs import Ledger, Registry
from loadtests.common.runfiles import (
    PHASE_ROW_COLUMNS,
    MatrixMeta,
    MatrixRow,
    PhaseRow,
    Timing,
    append_csv,
)
from loadtests.loadgen import wrk as _wrk
from loadtests.loadgen.locust_master import LocustMaster
from loadtests.loadgen.locust_phase import PhaseConfig, phase_config
from loadtests.robustness.cases import CASES
from loadtests.robustness.matrix import run_matrix, write_matrix
from loadtests.robustness.overload import overload
from shared_model import EXAMPLE


class Phases:
    """Measure one phase of one target; the run's state is the subclass's (``Bench``)."""

    s: RunSettings
    dir: Path
    reporter: Reporter
    registry: Registry
    ledger: Ledger
    matrix_rows: list[MatrixRow]
    phases_path: Path
    timing: Timing

    @property
    def lg(self) -> LocustMaster:
        """Return the running Locust master."""
        raise NotImplementedError

    @property
    def samples(self) -> Sampler:
        """Return the running sampler."""
        raise NotImplementedError

    def write_summary(self) -> None:
        """Rewrite summary.json with everything measured so far."""
        raise NotImplementedError

    def watch(self, name: str, server: Server, lg_pid: int | None = None) -> None:
        """Point the sampler at a server (and the Locust master, unless another generator)."""
        lg = lg_pid if lg_pid is not None else (self.lg.proc.pid if self.lg_alive() else None)
        self.samples.watch(server=server.pid, lg=lg, label=name)

    def lg_alive(self) -> bool:
        """Tell whether the Locust master runs (it is stopped before the targets alone)."""
        raise NotImplementedError

    # -- Locust --------------------------------------------------------------------------

    def config(
        self, phase: str, user_class: str, users: int, requests: list[Any], **kwargs: Any
    ) -> PhaseConfig:
        """Return a Locust phase of the run's warm-up and duration."""
        return phase_config(
            phase,
            user_class,
            users,
            requests,
            warmup_s=self.s.warmup_s,
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
        self.timing.measured_s += config["duration_s"]
        self._log_phase(tag, rec, rnd, section, figures, files["hdr"])
        self.reporter.advance(self.s.phase_s())
        self.write_summary()
        return figures

    # -- wrk -----------------------------------------------------------------------------

    def wrk_phase(
        self, tag: str, rec: TargetRecord, rnd: int, server: Server, pass_no: int
    ) -> Figures:
        """Measure the peak with wrk at the run's fixed concurrency; every valid pass of a visit
        joins the round's figures (their mean: throughput, CPU split, connections per request)."""
        name = rec.info["name"]
        again = f"-pass{pass_no}" if pass_no > 1 else ""
        self.reporter.step(f"{tag} · wrk c={WRK_CONNECTIONS}{again}")
        figures = self.wrk(name, server, f"r{rnd}{again}", self.s.duration_s)
        figures["phase"] += again
        rec.add("wrk", figures)
        fig = rec.add_wrk_pass(rnd, figures)
        locust = fig.locust_rps or 0
        ratio = locust / figures["rps"] if figures["rps"] else 0
        note = f"  user {figures.get('user_us')} + kernel {figures.get('kernel_us')} µs/req"
        self._log_phase(
            tag,
            rec,
            rnd,
            "wrk",
            figures,
            figures["files"][0]["output"],
            note + (f"  Locust/wrk {ratio:.2f}" if locust else ""),
        )
        self.reporter.advance(self.s.wrk_s())
        self.write_summary()
        return figures

    def wrk(self, name: str, server: Server, stem: str, duration_s: float) -> Figures:
        """Run wrk once against server; return its figures with the server's CPU per request
        (user and kernel, from its process tree's CPU times) and connections per request."""
        sampler, server_pid = self.samples, server.pid
        script = self.dir / "wrk" / "predict.lua"
        if not script.exists():
            _wrk.write_script(script, "POST", json.dumps(EXAMPLE).encode(), "application/json")
        out = self.dir / "wrk" / f"{name}-{stem}.txt"
        connections = WRK_CONNECTIONS
        start, before = time.time(), _cpu.read(server_pid)
        result = _wrk.run(
            f"{server.url}/predict",
            script,
            connections=connections,
            duration_s=duration_s,
            cores=self.s.lg_cores,
            out_path=out,
            ledger=self.ledger,
            registry=self.registry,
            on_start=lambda pid: sampler.watch(server=server_pid, lg=pid, label=f"{name}:wrk"),
        )
        after, end = _cpu.read(server_pid), time.time()
        self.watch(f"{name}:idle", server)
        resources = summarise(sampler.window(start, end), 1)
        share = (
            _cpu.share_pct(
                before, after, result.duration_s, self.s.server_cores, self.s.server_workers
            )
            if server_pid
            else None
        )
        reason = validity(as_float(resources.get("lg_cpu_max_pct")), server_share_pct=share)
        split = _cpu.split(before, after, result.requests) if server_pid else None
        figures: Figures = result.as_dict()
        figures.update(
            phase=f"wrk-c{connections}",
            users=connections,
            **resources,
            server_share_pct=share,
            valid=reason is None,
            invalid_reason=reason,
            files=[{"output": f"wrk/{out.name}", "script": "wrk/predict.lua"}],
        )
        if split is not None:
            figures.update({key: getattr(split, key) for key in SPLIT_KEYS})
        self.timing.measured_s += result.duration_s
        return figures

    # -- after the rounds ----------------------------------------------------------------

    def matrix_phase(self, name: str, server: Server) -> None:
        """Send every invalid-input case once; rewrite invalid_matrix.csv/.json of the run."""
        self.watch(f"{name}:matrix", server, lg_pid=0)
        self.reporter.step(f"{name}: invalid-input matrix ({len(CASES)} cases)")
        self.matrix_rows += run_matrix(server.url, name, server.pid)
        write_matrix(self.matrix_rows, self.dir, MatrixMeta(run_id=self.dir.name, cases=len(CASES)))
        self.reporter.advance(MATRIX_S)

    def overload_phase(self, name: str, rec: TargetRecord, server: Server) -> None:
        """Drive the target at twice its peak for --overload seconds, then time its recovery."""
        self.reporter.step(f"{name}: overload, 2x peak for {self.s.overload_s:g} s")
        proc = server.proc
        result = overload(
            server.url,
            factor=2.0,
            duration=self.s.overload_s,
            is_alive=(lambda: proc.alive()) if proc is not None else None,
            target=name,
        )
        rec.overload = result.model_copy(update={"timeline": []})  # the timeline stays out
        self.reporter.advance(self.s.overload_s + OVERLOAD_EXTRA_S)

    # -- phases.csv and the log ----------------------------------------------------------

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


def as_float(value: Any) -> float | None:
    """Return a number as float (None for anything else, booleans included)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
