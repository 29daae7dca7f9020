"""One bench run: benches, then every target measured in interleaved rounds, then each alone.

Each round visits every target in turn (the order rotates by one place a round, so no
target always comes first), between two CPU calibrations on the server core, and every
visit measures a fresh server process of its own (``loadtests.bench.visit``): while a target
is measured nothing else of the run is resident on the server core, and process speed is
sampled round by round like any other noise. One target (``--aa``, FastAPI def by default)
is also measured as a second, independent target of its own fresh processes: the A/A
control, compared with the original like any pair. After round 1 the rungs every later
round measures are fixed (``loadtests.bench.ladder``). After the rounds the load generators
stop and each target runs alone (``loadtests.bench.alone``). Everything is written as it
finishes; every process is stopped by PID.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from statistics import median
from typing import Any

from loadtests.bench import benches as _benches
from loadtests.bench import env as _env
from loadtests.bench.alone import AloneVisits
from loadtests.bench.compare import aa_warnings, compare
from loadtests.bench.config import CALIBRATION_S, LOADGEN_START_S, RunSettings, aa_twin
from loadtests.bench.noise import Calibration, calibrate, median_figures, out_of_line, round_info
from loadtests.bench.progress import Reporter
from loadtests.bench.results import TargetRecord, target_info
from loadtests.bench.sampling import Sampler, summarise
from loadtests.bench.summary import Figures
from loadtests.common.net import is_literal
from loadtests.common.procs import Ledger, ProcessError, Registry
from loadtests.common.runfiles import (
    AA_PAIR,
    PHASE_ROW_COLUMNS,
    PHASES_FILE,
    Files,
    MatrixRow,
    Pair,
    RoundInfo,
    Summary,
    Timing,
    csv_header,
    write_summary,
)
from loadtests.loadgen.locust_master import LocustMaster
from loadtests.loadgen.stepworker import NORMAL, StepWorker
from loadtests.targets import pairs

BUSY_AT_START_PCT = 25.0


def visit_order(subjects: Sequence[str], rnd: int) -> list[str]:
    """Return round rnd's order of visits: the subjects rotated by one place a round, so no
    target is always first (or always visited right after the same one)."""
    names = list(subjects)
    shift = (rnd - 1) % len(names) if names else 0
    return names[shift:] + names[:shift]


def utc_now() -> str:
    """Return the current UTC time in ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Bench(AloneVisits):
    """Runs the plan of settings into one results folder, keeping every partial result."""

    def __init__(self, settings: RunSettings, run_dir: Path, reporter: Reporter) -> None:
        self.s = settings
        self.dir = run_dir
        self.reporter = reporter
        self.registry = Registry()
        self.ledger = Ledger(run_dir / "processes.jsonl")
        self.records = {
            name: TargetRecord(target_info(name, settings), settings.slo_ms, settings.confidence)
            for name in settings.subjects
        }
        self.calibrations: list[Calibration] = []
        self.round_data: list[dict[str, Any]] = []  # per round: times, calibrations, resources
        self.closing: Calibration | None = None  # the last round's closing calibration
        self.alone_calibration: Calibration | None = None  # just before the standalone passes
        self.pair_rungs: dict[str, float] = {}
        self.headline: float | None = None
        self.benchmarks: dict[str, Figures] = {}
        self.matrix_rows: list[MatrixRow] = []
        self.warnings: list[str] = []
        self.timing = Timing()
        self.sampler: Sampler | None = None
        self.locust: LocustMaster | None = None
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

    # -- the generators and the clock ----------------------------------------------------

    @property
    def lg(self) -> LocustMaster:
        """Return the running Locust master."""
        if self.locust is None:
            raise RuntimeError("the Locust master is not running")
        return self.locust

    def lg_alive(self) -> bool:
        """Tell whether the Locust master runs."""
        return self.locust is not None and self.locust.proc.alive()

    @property
    def stepper(self) -> StepWorker:
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

    def clock(self) -> float:
        """Return a monotonic clock reading (seconds)."""
        return time.monotonic()

    # -- summary ---------------------------------------------------------------------------

    def reference_s_per_loop(self) -> float | None:
        """Return the run's median calibration so far, seconds a loop (the median of the
        rounds' opening and closing readings: a retake counts once)."""
        readings = [d["before"] for d in self.round_data[:1]] + [
            d["after"] for d in self.round_data
        ]
        known = [c.best_s / c.loops for c in readings if c is not None]
        return median(known) if known else None

    def rounds(self) -> list[RoundInfo]:
        """Return every finished round with its calibrations, noise and flags."""
        return [round_info(**data) for data in self.round_data]

    def machine_off(self) -> float | None:
        """Return how far the calibration taken before the standalone passes lies off the
        run's median (+0.2: 20 % slower; None: either was not measured)."""
        reference, reading = self.reference_s_per_loop(), self.alone_calibration
        if reference is None or reading is None:
            return None
        return reading.best_s / reading.loops / reference - 1

    def pairs(self, names: list[str]) -> list[Pair]:
        """Return the run's pairs: the A/A control first, then the table's."""
        out = [
            Pair(
                name=v.name,
                numerator=t.name,
                denominator=v.other,
                kind=v.kind,
                label=v.label,
                note=v.note,
            )
            for t, v in pairs(names)
        ]
        if self.s.aa and aa_twin(self.s.aa) in names and self.s.aa in names:
            out.insert(
                0,
                Pair(
                    name=AA_PAIR,
                    numerator=aa_twin(self.s.aa),
                    denominator=self.s.aa,
                    kind="control",
                    label=f"A/A control ({self.s.aa} : {self.s.aa})",
                    note="the same target measured as two independent ones: a tie or undecided, "
                    "or the intervals are too narrow",
                ),
            )
        return out

    def summary(self) -> Summary:
        """Return summary.json as it stands now."""
        rounds = self.rounds()
        excluded = {r.round for r in rounds if r.excluded}
        targets = {
            name: rec.summary(self.benchmarks, excluded) for name, rec in self.records.items()
        }
        warnings = list(self.warnings)
        for info in rounds:
            warnings += [f"round {info.round} left out of the verdicts: {f}" for f in info.flags]
        for name, entry in targets.items():
            warnings += [f"{name}: {flag}" for flag in entry.flags]
        pair_list = self.pairs(list(targets))
        comparisons = compare(
            targets,
            pair_list,
            excluded,
            pools={name: rec.pools for name, rec in self.records.items()},
            pair_rungs=self.pair_rungs,
            confidence=self.s.confidence,
        )
        warnings = aa_warnings(comparisons) + warnings
        return Summary.model_validate(
            {
                **self.header,
                "wall_s": round(time.time() - self.started, 1),
                "benchmarks": self.benchmarks,
                "targets": targets,
                "pairs": pair_list,
                "rounds": rounds,
                "calibration": median_figures(self.calibrations),
                "ladder": sorted(
                    {
                        s.offered_rps
                        for r in self.records.values()
                        for s in r.steps
                        if s.kind == "climb"
                    }
                ),
                "pair_rungs": self.pair_rungs,
                "headline_rung": self.headline,
                "timing": self.timing,
                "comparisons": comparisons,
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
            self.stop_generators()
        finally:
            self.registry.stop_all()
            if self.sampler is not None:
                self.sampler.close()
        self.header.update(status=status, error=error, finished_at=utc_now())
        summary = self.summary()
        write_summary(self.dir, summary)
        return summary

    def stop_generators(self) -> None:
        """Stop the Locust master and the open-loop client (before the targets run alone)."""
        try:
            if self.locust is not None:
                self.locust.close()
        finally:
            self.locust = None
            if self.step_worker is not None:
                self.step_worker.close()
                self.step_worker = None

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run the benches, the rounds, then each target alone."""
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
        self.locust = LocustMaster(
            self.s.locust_workers,
            self.s.lg_cores,
            logs / "loadgen.log",
            self.ledger,
            self.registry,
            blocking_resolver=all(is_literal(u) for u in (self.s.url, self.s.noop_url) if u),
        )
        self.reporter.advance(LOADGEN_START_S)
        for rnd in range(1, self.s.rounds + 1):
            self.run_round(rnd)
            if rnd == 1:
                self.fix_rungs()
        self.spare_rounds()
        self.warn_if_placed_by_a_disturbed_round()
        self.stop_generators()  # nothing else of the run alive while each target runs alone
        if self.s.alone and self.s.wrk:
            self.alone_calibration = self._calibrate()  # has the machine moved since?
        for name in self.s.targets if not self.s.url else self.s.subjects:
            if self.records[name].status != "failed":
                self.alone_phase(name)
        if self.s.alone and self.s.wrk and not self.s.url:
            self.read_gaps()
        failed = [n for n, r in self.records.items() if r.status == "failed"]
        if failed:
            raise ProcessError(
                "failed: " + "; ".join(f"{n}: {self.records[n].error}" for n in failed)
            )

    def run_round(self, rnd: int) -> None:
        """Visit every target once, between two CPU calibrations on the server core."""
        self.reporter.step(f"round {rnd} · CPU calibration")
        start, started_at = time.time(), utc_now()
        # The previous round's closing calibration opens this one: nothing runs in between.
        before = self.closing or self._calibrate()
        for name in visit_order(self.s.subjects, rnd):
            self.visit(name, rnd)
        after = first = self._calibrate()
        spike = None
        if before and after and out_of_line(before, after):
            # A boundary reading out of line with the round's opening is taken again once, so
            # that a moment's disturbance is shown as a spike rather than as the machine's
            # state at the end of this round and the start of the next.
            retake = self._calibrate()
            if retake is not None and not out_of_line(before, retake):
                spike, after = first, retake
            elif retake is not None:
                after = retake
                self.reporter.log(f"round {rnd}: the closing calibration held on a retake")
        self.closing = after
        end = time.time()
        resources = summarise(self.samples.window(start, end), len(self.s.lg_cores or ()) or 1)
        self.round_data.append(
            {
                "rnd": rnd,
                "started_at": started_at,
                "wall_s": end - start,
                "before": before,
                "after": after,
                "spike": spike,
                "resources": resources,
            }
        )
        info = self.rounds()[-1]
        note = "; ".join(info.flags) if info.flags else "clean"
        self.reporter.log(f"round {rnd}: {info.wall_s} s, drift {info.drift}, {note}")
        self.write_summary()

    def spare_rounds(self) -> None:
        """Run one more round for each flagged one, up to --spare-rounds: a round the machine
        disturbed is replaced rather than leaving the verdict fewer rounds than planned."""
        used = 0
        while used < self.s.spare_rounds:
            flagged = sum(1 for r in self.rounds() if r.excluded)
            if flagged <= used:
                return
            used += 1
            self.reporter.log(
                f"{flagged} round(s) flagged: spare round {used} of {self.s.spare_rounds}"
            )
            self.run_round(self.s.rounds + used)

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
