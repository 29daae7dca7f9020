"""One bench run: benches, then every target measured in interleaved rounds.

Every target's server (as --instances processes, which take turns a round) and its noop
twin (FVF_BACKEND=noop) start at the beginning, all pinned to the server cores (an idle
server costs nothing), and are verified (serving.py). A short wrk probe of each
picks the ladder of offered rates common to every target. Then each round visits every
target in turn (A B C ...), so drift on the machine hits all alike, between two CPU
calibrations on the server core: the closed-loop sweep (every level in round 1, the peak
level after) and wrk at 32 connections; /health and noop controls, the open-loop ladder
with the search for the sustainable rate, the invalid mix (round 1); wrk again (... C B A).
Then the invalid-input matrix once per target. Everything is written as it finishes;
every server is stopped by PID.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, Literal

from loadtests.bench import benches as _benches
from loadtests.bench import env as _env
from loadtests.bench.compare import compare
from loadtests.bench.config import CALIBRATION_S, LOADGEN_START_S, WRK_CONNECTIONS, RunSettings
from loadtests.bench.docs import check as check_docs
from loadtests.bench.ladder import TOP_HEADROOM, default_ladder, lowest_rung
from loadtests.bench.noise import Calibration, calibrate, median_figures, round_info
from loadtests.bench.phases import Phases, Served
from loadtests.bench.progress import Reporter
from loadtests.bench.results import TargetRecord, target_info
from loadtests.bench.sampling import Sampler, summarise
from loadtests.bench.serving import start_served
from loadtests.bench.summary import Figures, peak_of
from loadtests.common.net import is_literal
from loadtests.common.procs import Ledger, ProcessError, Registry
from loadtests.common.runfiles import (
    PHASE_ROW_COLUMNS,
    PHASES_FILE,
    Files,
    MatrixRow,
    Pair,
    RoundInfo,
    Summary,
    csv_header,
    write_summary,
)
from loadtests.loadgen.locust_master import LocustMaster
from loadtests.loadgen.locust_phase import health_spec, mix_specs, predict_spec
from loadtests.loadgen.stepworker import NORMAL, StepWorker
from loadtests.targets import TARGETS, get_target, pairs

BUSY_AT_START_PCT = 25.0
DEFAULT_FASTEST_RPS = 4000.0  # ladder size when no target could be probed
# A round visits every target in three parts: the closed-loop peaks (Locust, wrk), all
# within half a minute of each other, so a slow minute on the machine hits every target's
# throughput alike; the controls, the ladder and the invalid mix; then wrk again, in the
# reverse order, so each target's two wrk passes centre on the same moment (WRK_PASSES).
Part = Literal["throughput", "latency", "wrk-again"]
PARTS: tuple[Part, ...] = ("throughput", "latency", "wrk-again")
QUICK_RUNGS = 4


def utc_now() -> str:
    """Return the current UTC time in ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Bench(Phases):
    """Runs the plan of settings into one results folder, keeping every partial result."""

    def __init__(self, settings: RunSettings, run_dir: Path, reporter: Reporter) -> None:
        self.s = settings
        self.dir = run_dir
        self.reporter = reporter
        self.registry = Registry()
        self.ledger = Ledger(run_dir / "processes.jsonl")
        self.records = {
            name: TargetRecord(target_info(name, settings), settings.slo_ms)
            for name in settings.subjects
        }
        self.served: dict[str, Served] = {}
        self.rounds: list[RoundInfo] = []
        self.calibrations: list[Calibration] = []
        self.probed: set[int | None] = set()  # server PIDs the capacity probe has warmed
        self.closing: Calibration | None = None  # the last round's closing calibration
        self.ladder: tuple[float, ...] = settings.ladder or ()
        self.benchmarks: dict[str, Figures] = {}
        self.matrix_rows: list[MatrixRow] = []
        self.warnings: list[str] = []
        self.sampler: Sampler | None = None
        self.loadgen: LocustMaster | None = None
        self.step_worker: StepWorker | None = None
        self.started = time.time()
        self.header: dict[str, Any] = {
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
        self.phases_path = run_dir / PHASES_FILE
        csv_header(self.phases_path, PHASE_ROW_COLUMNS)
        self.write_summary()

    @property
    def lg(self) -> LocustMaster:
        """Return the running load generator."""
        if self.loadgen is None:
            raise RuntimeError("the load generator is not running")
        return self.loadgen

    @property
    def steps(self) -> StepWorker:
        """Return the open-loop client's worker process."""
        if self.step_worker is None:
            raise RuntimeError("the open-loop client is not running")
        return self.step_worker

    @property
    def samples(self) -> Sampler:
        """Return the running sampler."""
        if self.sampler is None:
            raise RuntimeError("the sampler is not running")
        return self.sampler

    # -- summary ---------------------------------------------------------------------------

    def summary(self) -> Summary:
        """Return summary.json as it stands now."""
        excluded = {r.round for r in self.rounds if r.excluded}
        targets = {
            name: rec.summary(self.benchmarks, excluded) for name, rec in self.records.items()
        }
        warnings = list(self.warnings)
        for info in self.rounds:
            warnings += [f"round {info.round} left out of the verdicts: {f}" for f in info.flags]
        for name, entry in targets.items():
            warnings += [f"{name}: {flag}" for flag in entry.flags]
        pair_list = [
            Pair(
                name=v.name,
                numerator=t.name,
                denominator=v.other,
                kind=v.kind,
                label=v.label,
                note=v.note,
            )
            for t, v in pairs(targets)
        ]
        return Summary.model_validate(
            {
                **self.header,
                "wall_s": round(time.time() - self.started, 1),
                "benchmarks": self.benchmarks,
                "targets": targets,
                "pairs": pair_list,
                "rounds": self.rounds,
                "calibration": median_figures(self.calibrations),
                "ladder": list(self.ladder),
                "comparisons": compare(targets, pair_list, excluded),
                "warnings": warnings,
                "files": Files(
                    benchmarks_json="benchmarks.json" if self.benchmarks else None,
                    wrk="wrk/" if self.s.wrk else None,
                    invalid_matrix="invalid_matrix.json" if self.matrix_rows else None,
                ),
            }
        )

    def write_summary(self) -> None:
        """Rewrite summary.json with everything measured so far."""
        write_summary(self.dir, self.summary())

    def finish(self, status: str, error: str | None = None) -> Summary:
        """Stop every process this run started, record how the run ended, return the summary."""
        for rec in self.records.values():
            if rec.status == "running":
                rec.status = "partial" if rec.measured() else "pending"
        try:
            if self.loadgen is not None:
                self.loadgen.close()
            if self.step_worker is not None:
                self.step_worker.close()
        finally:
            self.registry.stop_all()
            if self.sampler is not None:
                self.sampler.close()
        self.header.update(status=status, error=error, finished_at=utc_now())
        summary = self.summary()
        write_summary(self.dir, summary)
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
        self.reporter.step("starting the load generators")
        self.step_worker = StepWorker(self.s.lg_cores, self.ledger)
        self.header["client_scheduling"] = self.step_worker.scheduling
        if self.step_worker.scheduling == NORMAL:
            self.warnings.append(
                "the open-loop client runs at normal priority (raising it needs root or "
                "CAP_SYS_NICE): more of its ladder steps will be late to send and greyed as "
                "invalid"
            )
        self.loadgen = LocustMaster(
            self.s.locust_workers,
            self.s.lg_cores,
            logs / "loadgen.log",
            self.ledger,
            self.registry,
            blocking_resolver=all(is_literal(u) for u in (self.s.url, self.s.noop_url) if u),
        )
        self.reporter.advance(LOADGEN_START_S)
        self.start_all()
        if not self.ladder:
            self.ladder = self.discover()
        for rnd in range(1, self.s.rounds + 1):
            self.run_round(rnd)
        for name in self.s.subjects:
            served = self.served.get(name)
            if served is None or self.records[name].status == "failed":
                continue
            if self.s.matrix and self.s.url is None:
                self.matrix_phase(name, served.real.url, served.real.pid)
            if self.s.overload_s and name in TARGETS and get_target(name).handler != "seed":
                self.overload_phase(name, self.records[name], served.real)
        failed = [n for n, r in self.records.items() if r.status == "failed"]
        if failed:
            raise ProcessError(
                "failed: " + "; ".join(f"{n}: {self.records[n].error}" for n in failed)
            )

    def start_all(self) -> None:
        """Start and verify every target's server and noop twin, all on the server cores."""
        for name in self.s.subjects:
            rec = self.records[name]
            self.reporter.step(f"{name} · starting the servers")
            try:
                self.served[name] = self._start(name)
            except ProcessError as exc:
                rec.status, rec.error = "failed", str(exc)
                self.reporter.log(f"[red]{name}: FAILED to start[/red] {exc}")
            else:
                rec.info["url"] = self.served[name].real.url
                rec.docs = check_docs(self.served[name].real.url)
            self.reporter.advance(self.s.servers_s())
        self.write_summary()

    def _start(self, name: str) -> Served:
        return start_served(name, self.s, self.dir / "logs", self.ledger, self.registry)

    def discover(self) -> tuple[float, ...]:
        """Probe each target's throughput briefly (wrk); return the common ladder of rates."""
        peaks: list[float] = []
        for name in self.s.subjects:
            served = self.served.get(name)
            if served is None or not self.s.wrk:
                continue
            self.reporter.step(f"{name} · warm-up and capacity probe (wrk)")
            try:
                figures = self._wrk(name, served.real, "probe", WRK_CONNECTIONS, 1.0)
                self.probed.add(served.real.pid)
            except ProcessError as exc:
                self.reporter.log(f"{name}: no capacity probe ({exc})")
                continue
            peaks.append(float(figures["rps"] or 0))
        rates = default_ladder(
            TOP_HEADROOM * (max(peaks, default=0.0) or DEFAULT_FASTEST_RPS),
            lowest_rung(min(peaks, default=None)),
        )
        if self.s.quick:
            rates = rates[:: max(1, len(rates) // QUICK_RUNGS)][:QUICK_RUNGS]
        self.reporter.log(
            f"ladder (offered req/s, every target): {', '.join(f'{r:g}' for r in rates)}"
        )
        return tuple(rates)

    def run_round(self, rnd: int) -> None:
        """Measure every target once, between two CPU calibrations on the server core."""
        self.reporter.step(f"round {rnd}/{self.s.rounds} · CPU calibration")
        start, started_at = time.time(), utc_now()
        # The previous round's closing calibration opens this one: nothing runs in between.
        before = self.closing or self._calibrate()
        for part in self.parts():
            for name in self.s.subjects[:: -1 if part == "wrk-again" else 1]:
                self.run_subject(name, rnd, part)
        after = self.closing = self._calibrate()
        end = time.time()
        resources = summarise(self.samples.window(start, end), len(self.s.lg_cores or ()) or 1)
        info = round_info(rnd, started_at, end - start, before, after, resources)
        self.rounds.append(info)
        note = "; ".join(info.flags) if info.flags else "clean"
        self.reporter.log(f"round {rnd}: {info.wall_s} s, drift {info.drift}, {note}")
        self.write_summary()

    def _calibrate(self) -> Calibration | None:
        if self.s.url is not None:
            return None  # the server is elsewhere: its core cannot be calibrated from here
        try:
            result = calibrate(self.s.server_cores)
        except (RuntimeError, OSError) as exc:
            self.warnings.append(f"CPU calibration failed: {exc}")
            return None
        self.calibrations.append(result)
        self.reporter.advance(CALIBRATION_S)
        return result

    def parts(self) -> tuple[Part, ...]:
        """Return the parts of a round: the second wrk pass only when it is asked for."""
        return PARTS if self.s.wrk and self.s.wrk_passes > 1 else PARTS[:2]

    def run_subject(self, name: str, rnd: int, part: Part) -> None:
        """Measure one part of one target's round; a failure is recorded, not fatal."""
        rec = self.records[name]
        served = self.served.get(name)
        if rec.status == "failed" or served is None:
            return
        rec.status = "running"
        try:
            if part == "throughput":
                self._throughput(name, rec, rnd, served)
            elif part == "latency":
                self._latency(name, rec, rnd, served)
            else:  # wrk's second pass; the sampler follows wrk from its start
                tag = f"[{rnd}/{self.s.rounds}] {name}"
                self.wrk_phase(tag, rec, rnd, served.at(rnd), WRK_CONNECTIONS, pass_no=2)
        except ProcessError as exc:
            rec.status, rec.error = "failed", str(exc)
            self.reporter.log(f"[red]{name}: FAILED[/red] {exc}")
            if not self.lg.proc.alive():
                raise  # without a load generator no other target can be measured
        else:
            if part == self.parts()[-1]:
                rec.repeats += 1
                rec.status = "complete" if rec.repeats == self.s.rounds else "partial"
        finally:
            self.write_summary()

    def _throughput(self, name: str, rec: TargetRecord, rnd: int, served: Served) -> None:
        """The closed-loop part of a visit: the Locust sweep (its peak level after round 1)
        and wrk at WRK_CONNECTIONS, the same for every target."""
        tag = f"[{rnd}/{self.s.rounds}] {name}"
        real = served.at(rnd)  # the server's processes take turns, one a round
        fig = rec.round_figures(rnd)
        fig.instance, fig.server_pid = served.instance(rnd), real.pid
        url, answers = real.url, real.answers
        self.samples.watch(server=real.pid, lg=self.lg.proc.pid, label=f"{name}:onnx")
        predict = [predict_spec(answers.predict)]
        first = rnd == 1
        levels = self.s.levels if first or rec.level is None else (rec.level,)
        # A process's first round warms it up, unless the capacity probe (a second of wrk
        # at 32 connections, more load than the warm-up's) already has.
        fresh = rnd <= 1 + len(served.spares) and real.pid not in self.probed
        warmup = self.s.server_warmup_s if fresh else 0.0
        measured = []
        for users in levels:
            config = self._config(f"sweep-c{users}", "PredictUser", users, predict, warmup)
            measured.append(self.locust_phase(tag, rec, rnd, "sweep", config, url, key=users))
            warmup = 0.0
        peak = peak_of(measured)
        assert peak is not None
        if first:
            rec.level = int(peak["users"])
        rec.add_peak(peak, rnd)
        if self.s.wrk:
            self.wrk_phase(tag, rec, rnd, real, WRK_CONNECTIONS)

    def _latency(self, name: str, rec: TargetRecord, rnd: int, served: Served) -> None:
        """The rest of a visit: the controls and the invalid mix (round 1), the ladder."""
        tag = f"[{rnd}/{self.s.rounds}] {name}"
        real, noop = served.at(rnd), served.noop  # round 1's controls: the first process
        url, answers = real.url, real.answers
        self.samples.watch(server=real.pid, lg=self.lg.proc.pid, label=f"{name}:onnx")
        first = rnd == 1
        if rec.level is None:
            return  # the throughput part failed before it found a level
        users = rec.level
        if first:  # the controls describe one target, not a contrast: once is enough
            health = [health_spec(answers.health)]
            config = self._config(f"health-c{users}", "HealthUser", users, health)
            self.locust_phase(tag, rec, rnd, "health", config, url)
        if first and noop is not None:
            self.samples.watch(server=noop.pid, lg=self.lg.proc.pid, label=f"{name}:noop")
            specs = [predict_spec(noop.answers.predict)]
            config = self._config(f"noop-c{users}", "PredictUser", users, specs)
            self.locust_phase(tag, rec, rnd, "noop", config, noop.url)
            self.samples.watch(server=real.pid, lg=self.lg.proc.pid, label=f"{name}:onnx")
        self.ladder_phase(tag, rec, rnd, real)
        if first:
            config = self._config(
                f"invalid-mix-c{users}",
                "InvalidMixUser",
                users,
                mix_specs(answers.predict),
                bad_fraction=self.s.invalid_fraction,
            )
            self.locust_phase(tag, rec, rnd, "invalid_mix", config, url)
