"""The settings of one bench run, the default and --quick presets, and the time plan."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtests.bench.summary import CPU_BENCHES
from loadtests.targets import DEFAULT_TARGETS, DEFAULT_WORKERS

SERVER_START_S = 0.9  # start and verify one fresh server process (0.4-0.95 s measured)
SERVER_STOP_S = 0.2
LOADGEN_START_S = 1.5
PHASE_OVERHEAD_S = 0.15
DISTRIBUTED_OVERHEAD_S = 1.0
MATRIX_S = 2.0  # the invalid-input catalogue, once per target (after the rounds)
OVERLOAD_EXTRA_S = 8.0  # peak probe, normal latency, recovery watch around --overload S
CALIBRATION_S = 1.0  # the CPU calibration before and after each round
STEP_OVERHEAD_S = 0.3  # lead-in of an open-loop step (sent, not measured), and its drain
# Every step offers at least this many requests (a slow rung runs longer than --step): 459
# answers within the bound are the fewest on which MLPerf LoadGen's early-stopping rule
# accepts a p99 claim at 99 % confidence, so a clean rung can pass on one round's answers.
MIN_STEP_REQUESTS = 500
# A later round's step, at a rung fixed for the run, needs only this share of them: nothing
# is decided on one later round's answers, only on every round's pooled (round 1's at least
# MIN_STEP_REQUESTS, each later round's half as many: 1,500 over five rounds at 500 req/s).
# It saves half a second a rung a round at 500 req/s, where every target has its headline
# rung: 16 s of a default run's open-loop measuring.
LATER_STEP_SHARE = 0.5
# The ladder starts at 500 req/s, where 1 s holds the 500 requests; 250 only when a target is
# too slow to serve 500 with room (its round-1 wrk peak below SLOW_PEAK_RPS).
LOW_RUNG = 500.0
SLOW_PEAK_RPS = 1000.0
# wrk (every visit's throughput, and the warm-up of a fresh server) runs at one fixed
# concurrency for every target, so the throughput ratios compare like with like. It ran at
# Locust's peak level before; that level came out 8, 32 or 64 from run to run (Locust is
# generator-bound at most levels), and uvicorn's wrk peak differs by ~10 % between 8 and 32.
WRK_CONNECTIONS = 32
# wrk measures every target twice a visit: before its ladder and after it, and the visit's
# figure is their mean. FastAPI def's throughput wanders over several seconds, so two wrk
# seconds in a row varied as much as one (the FastAPI:Flask ratio of 10 back-to-back pairs:
# CV 6.6 % at 1 s, 8.8 % at 2 s); two seconds a ladder apart are closer to independent.
WRK_PASSES = 2
# A fresh server is warmed up by one wrk second at WRK_CONNECTIONS that is not counted (its
# figure is kept beside the counted ones, so what a fresh process's first second does is
# measured in every visit, not assumed).
WARMUP_WRK_S = 1.0
# Each visit measures this many fresh server processes with wrk by default (--instances): the
# round's throughput is their mean. One process keeps a speed of its own for its whole life
# (`make drift`: the FastAPI def : Flask ratio differed between sets of fresh servers beyond
# chance, between-set SD 4.7-5.6 %, and not between sets of the same servers), so every round
# starts its own: the rounds sample process speed, and the intervals include it.
SERVER_INSTANCES = 1
# A round the machine disturbed (flagged: left out of every verdict) can be replaced by one more
# round, at most SPARE_ROUNDS of them (--spare-rounds). None by default: a round costs about
# 75 s on the Intel Xeon VM, and five planned rounds (one left out still leaves four) fit the
# 10-minute budget where four and a spare did not always (589 s through make with a spare,
# 2026-12-07). Spares were added when the calibration flagged two or three of four rounds;
# steal alone would have flagged at most one round in each of nine runs since.
SPARE_ROUNDS = 0
STEPS_ROUND1 = 10  # climb, bisection, the window filled in: one target's first round
STEPS_LATER = 6  # the knee window and the pairs' rungs: one target's later round


@dataclass(frozen=True)
class Preset:
    """Phase lengths, sweep and rounds of a kind of run."""

    levels: tuple[int, ...]
    duration_s: float  # one closed-loop phase (Locust)
    warmup_s: float
    server_warmup_s: float
    step_s: float  # one rung of the open-loop ladder
    step_min_requests: int  # a slow rung runs longer, until this many requests were offered
    rounds: int
    bench_max_time_s: float
    sample_interval_s: float
    wrk_passes: int


# Default: five interleaved rounds (the bootstrap interval of a median is close to the range
# of the values: with three, about 75 % coverage; four, about 87 %; five, about 94 %); the
# sweep (every level), the controls and the invalid mix run in the first round only. Open-loop
# steps of 0.5 s (at least 500 requests): the decisions pool every round's answers at a rung,
# so one round's step need not decide on its own. See the README for what each length buys.
DEFAULT = Preset((1, 8, 32, 64), 0.8, 0.25, 1.0, 0.5, MIN_STEP_REQUESTS, 5, 0.25, 0.25, WRK_PASSES)
# Quick: one level, two rounds of short phases, one wrk pass a visit (about a minute;
# verdicts undecided).
QUICK = Preset((32,), 0.4, 0.15, 1.0, 0.4, 0, 2, 0.02, 0.2, 1)


def default_cores() -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """Return (server cores, load-generator cores): the first core for the server, the rest
    for the load generator; (None, None) where pinning is impossible or one core only."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return (cores[0],), tuple(cores[1:])


@dataclass(frozen=True)
class RunSettings:
    """Every option of a run (recorded in summary.json as given)."""

    targets: tuple[str, ...] = DEFAULT_TARGETS
    levels: tuple[int, ...] = DEFAULT.levels
    duration_s: float = DEFAULT.duration_s
    warmup_s: float = DEFAULT.warmup_s
    server_warmup_s: float = DEFAULT.server_warmup_s  # wrk seconds on a fresh server, not counted
    step_s: float = DEFAULT.step_s
    step_min_requests: int = DEFAULT.step_min_requests
    rounds: int = DEFAULT.rounds
    slo_ms: float = 25.0  # the latency bound of the sustainable throughput (p99)
    confidence: float = 0.99  # of LoadGen's early-stopping rule (its default)
    ladder: tuple[float, ...] | None = None  # offered rates; None: the common rates
    bench_max_time_s: float = DEFAULT.bench_max_time_s
    quick: bool = False
    out_dir: Path = Path("results")
    url: str | None = None
    noop_url: str | None = None
    name: str = "url"
    locust_workers: int = 1
    invalid_fraction: float = 0.2
    server_workers: int = DEFAULT_WORKERS
    server_cores: tuple[int, ...] | None = None
    lg_cores: tuple[int, ...] | None = None
    sample_interval_s: float = DEFAULT.sample_interval_s
    benches: bool = True
    wrk: bool = True
    wrk_passes: int = DEFAULT.wrk_passes  # wrk runs a visit (1 or 2; see WRK_PASSES)
    instances: int = SERVER_INSTANCES  # fresh processes measured by wrk in each visit
    spare_rounds: int = SPARE_ROUNDS  # more rounds, one for each flagged one, at most this many
    aa: str | None = None  # the target measured twice as independent targets (A/A control)
    alone: bool = True  # after the rounds: each target alone (wrk, system calls, matrix)
    matrix: bool = True
    overload_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def subjects(self) -> tuple[str, ...]:
        """Return the names measured: the targets and the A/A twin, or the --url deployment."""
        if self.url:
            return (self.name,)
        return (*self.targets, aa_twin(self.aa)) if self.aa else self.targets

    def target_of(self, subject: str) -> str:
        """Return the target a subject runs (the A/A twin runs its original's)."""
        return self.aa if self.aa and subject == aa_twin(self.aa) else subject

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-ready data."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["mode"] = "url" if self.url else "local"
        data["later_step_min_requests"] = self.later_step_min_requests
        return data

    def phase_s(self) -> float:
        """Return the planned seconds of one Locust phase."""
        overhead = PHASE_OVERHEAD_S + (DISTRIBUTED_OVERHEAD_S if self.locust_workers > 1 else 0)
        return self.warmup_s + self.duration_s + overhead

    def bench_s(self) -> float:
        """Return the planned seconds of the in-process benches: imports, then 13 benches on
        the wall clock; imports again, then the decomposition's on the CPU clock."""
        return 2 * 6.0 + (13 + len(CPU_BENCHES)) * 2 * self.bench_max_time_s

    def step_s_at(self, rate: float, later: bool = False) -> float:
        """Return the measured seconds of a ladder step at rate: step_s, or longer where
        step_s would offer fewer than step_min_requests requests (LATER_STEP_SHARE of them in
        rounds 2..., whose answers are only ever pooled)."""
        least = self.later_step_min_requests if later else self.step_min_requests
        return max(self.step_s, least / rate if rate > 0 else 0.0)

    @property
    def later_step_min_requests(self) -> int:
        """Return the requests a step offers at least in rounds 2..."""
        return math.ceil(LATER_STEP_SHARE * self.step_min_requests)

    def wrk_s(self) -> float:
        """Return the planned seconds of one wrk pass (whole seconds, and its start)."""
        return max(1, round(self.duration_s)) + 0.3

    def visit_s(self, first: bool, twin: bool = False) -> float:
        """Return the planned seconds of one target's visit in one round."""
        start = 0.0 if self.url else (SERVER_START_S + SERVER_STOP_S) * self.instances
        seconds = start + (STEPS_ROUND1 if first else STEPS_LATER) * (
            self.step_s_at(1500) + STEP_OVERHEAD_S
        )
        if self.wrk:
            warm = max(1, round(self.server_warmup_s)) + 0.3 if self.server_warmup_s else 0.0
            seconds += (self.wrk_s() + warm) * self.instances + self.wrk_s() * (self.wrk_passes - 1)
        locust = (len(self.levels) + 3 if first else 0) if self.wrk else 1
        if first and not twin:  # round 1: the sweep, /health, noop (its own start), mix
            seconds += locust * self.phase_s() + SERVER_START_S + SERVER_STOP_S
        elif not self.wrk:
            seconds += self.phase_s()
        return seconds

    def alone_s(self) -> float:
        """Return the planned seconds of one target alone after the rounds."""
        seconds = SERVER_START_S + SERVER_STOP_S + (2 + self.wrk_passes) * self.wrk_s() + 1.0
        seconds += MATRIX_S if self.matrix else 0.0
        return seconds + (self.overload_s + OVERLOAD_EXTRA_S if self.overload_s else 0.0)

    def planned_s(self) -> float:
        """Return the planned seconds of the whole run (progress bar and time left)."""
        twin = aa_twin(self.aa) if self.aa else None
        per_target = sum(
            self.visit_s(rnd == 1, twin=name == twin)
            for rnd in range(1, self.rounds + 1)
            for name in self.subjects
        )
        alone = len(self.targets) * self.alone_s() if self.alone and not self.url else 0.0
        bench = self.bench_s() if self.benches else 0.0
        calibration = (self.rounds + 1) * CALIBRATION_S  # a round's last opens the next
        return bench + LOADGEN_START_S + calibration + per_target + alone


AA_SUFFIX = "-aa"


def aa_twin(target: str) -> str:
    """Return the name of a target's A/A twin: the same target, measured as another."""
    return f"{target}{AA_SUFFIX}"
