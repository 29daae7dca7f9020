"""One bench run: benches, then for each target the HTTP phases, written as they finish.

Per target and repeat: start the server (exact command of the table, pinned) and its
twin with FVF_BACKEND=noop, wait for /health, verify /predict on both; then sweep the
concurrency levels (the first phase carries the server warm-up), /health at the peak
level, fixed rates at fractions of the peak, the invalid mix at the peak level, wrk at
the peak level; stop the server by PID; measure the noop control at the peak level on
the twin (warmed up first); stop it by PID.
"""

from __future__ import annotations

import csv
import datetime as dt
import ipaddress
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadtests.bench import benches as _benches
from loadtests.bench import env as _env
from loadtests.bench import wrk as _wrk
from loadtests.bench.config import LOADGEN_START_S, MATRIX_S, OVERLOAD_EXTRA_S, RunSettings
from loadtests.bench.loadgen import LoadGenerator
from loadtests.bench.phase import PhaseConfig, health_spec, mix_specs, phase_config, predict_spec
from loadtests.bench.progress import Reporter
from loadtests.bench.results import TargetRecord, locust_figures
from loadtests.bench.sampling import Sampler, summarise
from loadtests.bench.summary import SCHEMA, UNITS, Figures, peak_of, write_json
from loadtests.common import hdr as _hdr
from loadtests.common import servers as _servers
from loadtests.common.procs import Ledger, Managed, ProcessError, Registry
from loadtests.robustness.cases import CASES
from loadtests.robustness.matrix import run_matrix, write_matrix
from loadtests.robustness.overload import overload
from loadtests.targets import TARGETS, get_target
from shared_model import EXAMPLE

PHASES_CSV_FIELDS = (
    "target",
    "repeat",
    "section",
    "phase",
    "kind",
    "path",
    "users",
    "target_rps",
    "duration_s",
    "requests",
    "successes",
    "failures",
    "rps",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "lg_cpu_max_pct",
    "server_cpu_pct",
    "server_rss_mb",
    "load_generator_bound",
    "hdr",
)
FIXED_RATE_MIN_USERS = 16
BUSY_AT_START_PCT = 25.0
FIXED_RATE_MAX_USERS = 512


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


def _is_literal(url: str) -> bool:
    """Tell whether url names its host by IP address or as localhost (no DNS lookup)."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return True


def utc_now() -> str:
    """Return the current UTC time in ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Bench:
    """Runs the plan of settings into one results folder, keeping every partial result."""

    def __init__(self, settings: RunSettings, run_dir: Path, reporter: Reporter) -> None:
        self.s = settings
        self.dir = run_dir
        self.reporter = reporter
        self.registry = Registry()
        self.ledger = Ledger(run_dir / "processes.jsonl")
        self.records = {name: TargetRecord(self._info(name)) for name in settings.subjects}
        self.benchmarks: dict[str, Figures] = {}
        self.matrix_rows: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.sampler: Sampler | None = None
        self.loadgen: LoadGenerator | None = None
        self.started = time.time()
        self.header: dict[str, Any] = {
            "schema": SCHEMA,
            "status": "running",
            "error": None,
            "run_id": run_dir.name,
            "started_at": utc_now(),
            "finished_at": None,
            "wall_s": None,
            "mode": "url" if settings.url else "local",
            "settings": settings.as_dict(),
            "environment": _env.describe(
                list(settings.server_cores or []) or None, list(settings.lg_cores or []) or None
            ),
        }
        busy = self.header["environment"]["busy_cpu_pct_at_start"]
        if busy > BUSY_AT_START_PCT:
            self.warnings.append(
                f"the machine was already {busy} % busy (percent of one core) before the run: "
                "other processes compete for the cores, figures are less trustworthy"
            )
        self._phases = (run_dir / "phases.csv").open("w", newline="", encoding="utf-8")
        self._phases_csv = csv.DictWriter(self._phases, PHASES_CSV_FIELDS, extrasaction="ignore")
        self._phases_csv.writeheader()
        self.write_summary()

    def _info(self, name: str) -> dict[str, Any]:
        if self.s.url:
            return {
                "name": name,
                "framework": None,
                "handler": None,
                "server": None,
                "description": f"deployment at {self.s.url}",
                "command": None,
                "url": self.s.url,
                "locust_workers": self.s.locust_workers,
            }
        target = TARGETS[name]
        return {
            "name": name,
            "framework": target.framework,
            "handler": target.handler,
            "server": target.server,
            "description": target.description,
            "command": target.command(workers=self.s.server_workers),
            "url": None,
            "locust_workers": self.s.locust_workers,
        }

    @property
    def lg(self) -> LoadGenerator:
        """Return the running load generator."""
        if self.loadgen is None:
            raise RuntimeError("the load generator is not running")
        return self.loadgen

    @property
    def samples(self) -> Sampler:
        """Return the running sampler."""
        if self.sampler is None:
            raise RuntimeError("the sampler is not running")
        return self.sampler

    # -- summary ---------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Return summary.json as it stands now."""
        targets = {name: rec.summary(self.benchmarks) for name, rec in self.records.items()}
        warnings = list(self.warnings)
        for name, entry in targets.items():
            warnings += [f"{name}: {flag}" for flag in entry["flags"]]
        return {
            **self.header,
            "wall_s": round(time.time() - self.started, 1),
            "benchmarks": self.benchmarks,
            "targets": targets,
            "warnings": warnings,
            "files": {
                "phases_csv": "phases.csv",
                "resources_csv": "resources.csv",
                "processes": "processes.jsonl",
                "benchmarks_json": "benchmarks.json" if self.benchmarks else None,
                "histograms": "hdr/",
                "wrk": "wrk/" if self.s.wrk else None,
                "logs": "logs/",
                "invalid_matrix": "invalid_matrix.json" if self.matrix_rows else None,
            },
            "units": UNITS,
        }

    def write_summary(self) -> None:
        """Rewrite summary.json with everything measured so far."""
        write_json(self.dir / "summary.json", self.summary())

    def finish(self, status: str, error: str | None = None) -> dict[str, Any]:
        """Stop every process this run started, record how the run ended, return the summary."""
        for rec in self.records.values():
            if rec.status == "running":
                rec.status = "partial" if rec.measured() else "pending"
        try:
            if self.loadgen is not None:
                self.loadgen.close()
        finally:
            self.registry.stop_all()
            if self.sampler is not None:
                self.sampler.close()
            self._phases.close()
        self.header.update(status=status, error=error, finished_at=utc_now())
        summary = self.summary()
        write_json(self.dir / "summary.json", summary)
        return summary

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run the benches, then every subject for every repeat."""
        logs = self.dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if self.s.benches:
            self.reporter.step("in-process benches (pytest-benchmark)")
            self.benchmarks = _benches.run(
                self.dir / "benchmarks.json",
                max_time_s=self.s.bench_max_time_s,
                cores=self.s.server_cores,
                log_path=logs / "benchmarks.log",
                ledger=self.ledger,
                registry=self.registry,
            )
            self.reporter.log(f"benches: {len(self.benchmarks)} in-process results")
            self.reporter.advance(self.s.bench_s())
            self.write_summary()
        self.sampler = Sampler(
            self.dir / "resources.csv",
            self.s.sample_interval_s,
            server_cores=self.s.server_cores,
            lg_cores=self.s.lg_cores,
        )
        self.reporter.step("starting the load generator")
        self.loadgen = LoadGenerator(
            self.s.locust_workers,
            self.s.lg_cores,
            logs / "loadgen.log",
            self.ledger,
            self.registry,
            blocking_resolver=all(_is_literal(u) for u in (self.s.url, self.s.noop_url) if u),
        )
        self.reporter.advance(LOADGEN_START_S)
        for repeat in range(self.s.repeats):
            for name in self.s.subjects:
                self.run_subject(name, repeat)
        failed = [n for n, r in self.records.items() if r.status == "failed"]
        if failed:
            raise ProcessError(
                "failed: " + "; ".join(f"{n}: {self.records[n].error}" for n in failed)
            )

    def run_subject(self, name: str, repeat: int) -> None:
        """Measure one target (or the --url deployment) once; a failure is recorded, not fatal."""
        rec = self.records[name]
        if rec.status == "failed":
            return
        rec.status = "running"
        try:
            self._measure(name, rec, repeat)
        except ProcessError as exc:
            rec.status, rec.error = "failed", str(exc)
            self.reporter.log(f"[red]{name}: FAILED[/red] {exc}")
            if not self.lg.proc.alive():
                raise  # without a load generator no other target can be measured
        else:
            rec.repeats += 1
            rec.status = "complete" if rec.repeats == self.s.repeats else "partial"
        finally:
            self.write_summary()

    def _measure(self, name: str, rec: TargetRecord, repeat: int) -> None:
        tag = f"[{repeat + 1}/{self.s.repeats}] {name}" if self.s.repeats > 1 else name
        with self.servers(name) as (real, noop):
            self.reporter.advance(self.s.servers_s())
            url, answers = real.url, real.answers
            rec.info["url"] = url
            self.samples.watch(server=real.pid, lg=self.lg.proc.pid, label=f"{name}:onnx")
            predict = [predict_spec(answers.predict)]
            warmup = self.s.server_warmup_s
            for users in self.s.levels:
                config = self._config(f"sweep-c{users}", "PredictUser", users, predict, warmup)
                self.locust_phase(tag, rec, repeat, "sweep", config, url, key=users)
                warmup = 0.0
            peak = peak_of(rec.sweep_of_repeat(repeat))
            assert peak is not None
            rec.add_peak(peak)
            users, peak_rps = int(peak["users"]), float(peak["rps"] or 0)
            health = [health_spec(answers.health)]
            config = self._config(f"health-c{users}", "HealthUser", users, health)
            self.locust_phase(tag, rec, repeat, "health", config, url)
            capacity = peak
            if self.s.wrk:
                wrk_rps = self.wrk_phase(tag, rec, repeat, url, users, real.pid, peak_rps)
                # Fixed rates are fractions of the lower of the two independent peaks: a
                # Locust peak that overshoots the server's capacity would turn "80 % of
                # peak" into an overload and its p99 into a queue length.
                if wrk_rps and wrk_rps < peak_rps:
                    capacity = {**peak, "rps": wrk_rps}
            for fraction in self.s.fixed_fractions:
                self.fixed_rate_phase(tag, rec, repeat, url, predict, fraction, capacity)
            config = self._config(
                f"invalid-mix-c{users}",
                "InvalidMixUser",
                users,
                mix_specs(answers.predict),
                bad_fraction=self.s.invalid_fraction,
            )
            self.locust_phase(tag, rec, repeat, "invalid_mix", config, url)
            if self.s.matrix and repeat == 0:
                self.matrix_phase(tag, name, url, real.pid)
            if self.s.overload_s and name in TARGETS and get_target(name).handler != "seed":
                self.overload_phase(tag, rec, url, real)
            if noop is None:
                return
            if real.proc is not None:
                self.registry.stop(real.proc)
            if noop.proc is not None and self.s.server_cores:
                noop.proc.pin(self.s.server_cores)
            self.samples.watch(server=noop.pid, lg=self.lg.proc.pid, label=f"{name}:noop")
            config = self._config(
                f"noop-c{users}",
                "PredictUser",
                users,
                [predict_spec(noop.answers.predict)],
                self.s.server_warmup_s,
            )
            self.locust_phase(tag, rec, repeat, "noop", config, noop.url)

    def matrix_phase(self, tag: str, name: str, url: str, pid: int | None) -> None:
        """Send every invalid-input case once; rewrite invalid_matrix.csv/.json of the run."""
        self.reporter.step(f"{tag}: invalid-input matrix ({len(CASES)} cases)")
        self.matrix_rows += run_matrix(url, name, pid)
        write_matrix(self.matrix_rows, self.dir, {"run_id": self.dir.name, "cases": len(CASES)})
        self.reporter.advance(MATRIX_S)

    def overload_phase(self, tag: str, rec: TargetRecord, url: str, real: Server) -> None:
        """Drive the target at twice its peak for --overload seconds, then time its recovery."""
        self.reporter.step(f"{tag}: overload, 2x peak for {self.s.overload_s:g} s")
        proc = real.proc
        result = overload(
            url,
            factor=2.0,
            duration=self.s.overload_s,
            is_alive=(lambda: proc.alive()) if proc is not None else None,
        )
        result.pop("timeline", None)
        rec.info["overload"] = result
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

    @contextmanager
    def servers(self, name: str) -> Iterator[tuple[Server, Server | None]]:
        """Yield the verified /predict server and its noop twin (None without one); stop both.

        Locally both start at once, the real one on the server cores and the noop one on
        the load-generator cores (idle then: nothing is measured during startup); the noop
        server is moved onto the server cores, every thread of it, before its phase.
        """
        if self.s.url:
            self.reporter.step(f"{name} · verifying {self.s.url}")
            real = self._verified(self.s.url, "onnx", None, None)
            noop = self._verified(self.s.noop_url, "noop", None, None) if self.s.noop_url else None
            yield real, noop
            return
        self.reporter.step(f"{name} · starting the servers")
        started = []
        try:
            for backend, cores in (("onnx", self.s.server_cores), ("noop", self.s.lg_cores)):
                log = self.dir / "logs" / f"{name}-{backend}.log"
                proc, url = _servers.start(
                    TARGETS[name],
                    backend=backend,
                    workers=self.s.server_workers,
                    cores=cores,
                    log_path=log,
                    ledger=self.ledger,
                    registry=self.registry,
                )
                started.append((proc, url, backend, log))
            real, noop = (
                self._verified(url, backend, proc, log) for proc, url, backend, log in started
            )
            yield real, noop
        finally:
            self.samples.watch(server=None, lg=self.lg.proc.pid)
            for proc, *_ in started:
                self.registry.stop(proc)

    def _verified(self, url: str, backend: str, proc: Managed | None, log: Path | None) -> Server:
        timeout = _servers.READY_TIMEOUT_S if proc is not None else 15.0
        _servers.wait_ready(url, proc, log, timeout=timeout)
        return Server(url, _servers.verify(url, backend), proc)

    def locust_phase(
        self,
        tag: str,
        rec: TargetRecord,
        repeat: int,
        section: str,
        config: PhaseConfig,
        url: str,
        key: Any = None,
        extra: Figures | None = None,
    ) -> Figures:
        """Run one Locust phase and record its figures."""
        planned = config["warmup_s"] + config["duration_s"] + config["drain_s"]
        self.reporter.step(f"{tag} · {config['phase']} ({planned:.1f} s)")
        result = self.lg.run(url, config)
        samples = self.samples.window(*result["window"])
        resources = summarise(samples, len(self.s.lg_cores or ()) or 1)
        stem = f"r{repeat + 1}-{config['phase']}"
        folder = self.dir / "hdr" / rec.info["name"]
        files = {
            k: f"hdr/{rec.info['name']}/{v}"
            for k, v in _hdr.save(_hdr.merge([result["latency"]]), folder / stem).items()
        }
        if result.get("service"):
            _hdr.save(_hdr.merge([result["service"]]), folder / f"{stem}-service")
        figures = locust_figures(config, result, resources, files, self.s.locust_workers)
        figures.update(extra or {})
        rec.add(section, figures, key)
        self._log_phase(tag, rec, repeat, section, figures, files["hdr"])
        self.reporter.advance(
            self.s.phase_s()
            + (self.s.server_warmup_s if config["warmup_s"] > self.s.warmup_s else 0)
        )
        self.write_summary()
        return figures

    def fixed_rate_phase(
        self,
        tag: str,
        rec: TargetRecord,
        repeat: int,
        url: str,
        predict: list[Any],
        fraction: float,
        peak: Figures,
    ) -> None:
        """Run POST /predict on a fixed schedule at a fraction of the measured peak."""
        rate = fraction * float(peak["rps"] or 0)
        if rate <= 0:
            self.warnings.append(f"{rec.info['name']}: no fixed-rate phase, peak throughput is 0")
            return
        users = min(max(2 * int(peak["users"]), FIXED_RATE_MIN_USERS), FIXED_RATE_MAX_USERS)
        config = self._config(
            f"fixed-{round(fraction * 100)}pct",
            "FixedRatePredictUser",
            users,
            predict,
            kind="fixed",
            rate=rate,
            drain_s=min(5.0, max(1.0, self.s.duration_s)),
        )
        self.locust_phase(
            tag, rec, repeat, "fixed_rate", config, url, key=fraction, extra={"fraction": fraction}
        )

    def wrk_phase(
        self,
        tag: str,
        rec: TargetRecord,
        repeat: int,
        url: str,
        connections: int,
        server_pid: int | None,
        peak_rps: float,
    ) -> float:
        """Cross-check the peak with wrk (same body, concurrency, server); return wrk's rps."""
        sampler, lg_pid = self.samples, self.lg.proc.pid
        name = rec.info["name"]
        self.reporter.step(f"{tag} · wrk c={connections}")
        script = self.dir / "wrk" / "predict.lua"
        if not script.exists():
            _wrk.write_script(script, "POST", json.dumps(EXAMPLE).encode(), "application/json")
        out = self.dir / "wrk" / f"{name}-r{repeat + 1}.txt"
        start = time.time()
        figures = _wrk.run(
            f"{url}/predict",
            script,
            connections=connections,
            duration_s=self.s.duration_s,
            cores=self.s.lg_cores,
            out_path=out,
            ledger=self.ledger,
            registry=self.registry,
            on_start=lambda pid: sampler.watch(server=server_pid, lg=pid, label=f"{name}:wrk"),
        )
        end = time.time()
        sampler.watch(server=server_pid, lg=lg_pid, label=f"{name}:onnx")
        resources = summarise(sampler.window(start, end), 1)
        figures.update(
            phase=f"wrk-c{connections}",
            users=connections,
            **resources,
            files=[{"output": f"wrk/{out.name}", "script": "wrk/predict.lua"}],
        )
        rec.add("wrk", figures)
        ratio = peak_rps / figures["rps"] if figures["rps"] else 0
        self._log_phase(
            tag, rec, repeat, "wrk", figures, f"wrk/{out.name}", f"  Locust/wrk {ratio:.2f}"
        )
        self.reporter.advance(max(1, round(self.s.duration_s)) + 0.3)
        self.write_summary()
        return float(figures["rps"] or 0)

    def _log_phase(
        self,
        tag: str,
        rec: TargetRecord,
        repeat: int,
        section: str,
        fig: Figures,
        path: str,
        note: str = "",
    ) -> None:
        row = {
            **fig,
            "target": rec.info["name"],
            "repeat": repeat + 1,
            "section": section,
            "hdr": path,
        }
        self._phases_csv.writerow(row)
        self._phases.flush()
        bound = "  [yellow]LOAD-GENERATOR-BOUND[/yellow]" if fig.get("load_generator_bound") else ""
        failures = f"  [red]{fig['failures']} failed[/red]" if fig.get("failures") else ""
        self.reporter.log(
            f"{tag:<16} {fig['phase']:<18} {fig.get('rps') or 0:>8.1f} req/s  "
            f"p50 {fig.get('p50_ms') or 0:7.2f}  p99 {fig.get('p99_ms') or 0:7.2f} ms  "
            f"lg {fig.get('lg_cpu_max_pct') or 0:>5.1f}%  "
            f"server {fig.get('server_cpu_pct') or 0:>5.1f}%{failures}{bound}{note}"
        )
