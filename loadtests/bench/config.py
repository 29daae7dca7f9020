"""The settings of one bench run, the default and --quick presets, and the time plan."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtests.bench.summary import CPU_BENCHES
from loadtests.targets import DEFAULT_TARGETS, DEFAULT_WORKERS

SERVER_START_S = 1.5  # start + verify of one target's servers (all start at once)
INSTANCE_START_S = 0.5  # each further process of its real server (0.36-0.54 s measured)
LOADGEN_START_S = 1.5
PHASE_OVERHEAD_S = 0.15
DISTRIBUTED_OVERHEAD_S = 1.0
MATRIX_S = 2.0  # the invalid-input catalogue, once per target (first round)
OVERLOAD_EXTRA_S = 8.0  # peak probe, normal latency, recovery watch around --overload S
CALIBRATION_S = 1.0  # the CPU calibration before and after each round
STEP_OVERHEAD_S = 0.3  # lead-in of an open-loop step (sent, not measured), and its drain
# Every step offers at least this many requests (a slow rung runs longer than --step), so
# its p99 is the 8th slowest answer or beyond, not the 2nd: 0.8 s at 250 req/s is 200
# requests, and p99s read from so few moved ±26-54 % from run to run.
MIN_STEP_REQUESTS = 800
# The ladder starts at 500 req/s, where 0.8 s already holds 400 requests; 250 only when
# a target is too slow to serve 500 with room (its probe peak below SLOW_PEAK_RPS).
LOW_RUNG = 500.0
SLOW_PEAK_RPS = 1000.0
# wrk (the capacity probe that sizes the ladder, and every round's peak) runs at one fixed
# concurrency for every target, so the throughput ratios compare like with like. It ran at
# Locust's peak level before; that level came out 8, 32 or 64 from run to run (Locust is
# generator-bound at most levels), and uvicorn's wrk peak differs by ~10 % between 8 and 32.
WRK_CONNECTIONS = 32
# wrk measures every target twice a round: before the ladders in the round's order, and
# after them in the reverse order, so each target's two passes centre on the same moment
# and a drift across the round cancels out of its ratios; the round's figure is their mean.
# Measured on this 2-core VM: FastAPI def's throughput wanders over several seconds, so two
# wrk seconds in a row varied as much as one (the FastAPI:Flask ratio of 10 back-to-back
# pairs: CV 6.6 % at 1 s, 8.8 % at 2 s); two seconds a minute apart are near independent.
WRK_PASSES = 2
# Every target's real server runs as this many processes, started together at the beginning;
# round r measures process (r - 1) % SERVER_INSTANCES + 1. A process keeps a speed of its
# own for its life: in `make drift` on this VM the FastAPI (def) : Flask wrk ratio differed
# between sets of fresh servers beyond chance (Kruskal-Wallis p 0.001-0.002 in three runs,
# between-set SD 4.7-5.6 %) and not between sets of the same servers (p 0.20 and 0.49).
# One process a target fixes that part for a whole run, and the next run draws another:
# the largest part of the default ratio's ±6-17 % from run to run. Two halve its variance
# for ~1.5 s a target (a start and a warm-up); one a round (4) would cost ~25 s more.
SERVER_INSTANCES = 2
STEPS_PLANNED = 10  # ladder rungs, bisection steps, a step measured again: one target, one round


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


# Default: four interleaved rounds (with three, the bootstrap interval of a median is just
# the range of three values, about 75 % coverage; four give about 87 %; five, 94 %, do not
# fit the 10-minute budget on 2 cores); the sweep (every level), the controls and the
# invalid mix run in the first round only, later rounds measure the peak level it found
# and the ladder. See the README for what each length buys.
DEFAULT = Preset((1, 8, 32, 64), 0.8, 0.25, 1.0, 0.8, MIN_STEP_REQUESTS, 4, 0.25, 0.25, WRK_PASSES)
# Quick: one level, two rounds of half-second phases, one wrk pass a round (about a
# minute; verdicts undecided).
QUICK = Preset((32,), 0.4, 0.15, 0.2, 0.4, 0, 2, 0.02, 0.2, 1)


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
    server_warmup_s: float = DEFAULT.server_warmup_s
    step_s: float = DEFAULT.step_s
    step_min_requests: int = DEFAULT.step_min_requests
    rounds: int = DEFAULT.rounds
    slo_ms: float = 25.0  # the latency bound of the sustainable throughput (p99)
    ladder: tuple[float, ...] | None = None  # offered rates; None: chosen from round 1's peaks
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
    wrk_passes: int = DEFAULT.wrk_passes  # wrk runs a round (1 or 2; see WRK_PASSES)
    instances: int = SERVER_INSTANCES  # processes of each real server (SERVER_INSTANCES)
    matrix: bool = True
    overload_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def subjects(self) -> tuple[str, ...]:
        """Return the names measured: the targets, or the --url deployment's name."""
        return (self.name,) if self.url else self.targets

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-ready data."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["mode"] = "url" if self.url else "local"
        return data

    def phase_s(self) -> float:
        """Return the planned seconds of one Locust phase."""
        overhead = PHASE_OVERHEAD_S + (DISTRIBUTED_OVERHEAD_S if self.locust_workers > 1 else 0)
        return self.warmup_s + self.duration_s + overhead

    def bench_s(self) -> float:
        """Return the planned seconds of the in-process benches: imports, then 13 benches on
        the wall clock; imports again, then the decomposition's on the CPU clock."""
        return 2 * 6.0 + (13 + len(CPU_BENCHES)) * 2 * self.bench_max_time_s

    def round_s(self, first: bool) -> float:
        """Return the planned seconds of one target in one round."""
        locust = len(self.levels) + 3 if first else 1  # round 1: + health, noop, invalid mix
        seconds = locust * self.phase_s() + STEPS_PLANNED * (self.step_s + STEP_OVERHEAD_S)
        seconds += self.step_s_at(LOW_RUNG) - self.step_s  # the lowest rung may run longer
        if self.wrk:
            seconds += 1.3 * self.wrk_passes
        if first:
            seconds += self.server_warmup_s * (self.server_processes() - (1 if self.wrk else 0))
            seconds += MATRIX_S if self.matrix else 0.0
            seconds += self.overload_s + OVERLOAD_EXTRA_S if self.overload_s else 0.0
        return seconds

    def step_s_at(self, rate: float) -> float:
        """Return the measured seconds of a ladder step at rate: step_s, or longer where
        step_s would offer fewer than step_min_requests requests."""
        return max(self.step_s, self.step_min_requests / rate if rate > 0 else 0.0)

    def planned_s(self) -> float:
        """Return the planned seconds of the whole run (progress bar and time left)."""
        per_target = self.round_s(True) + (self.rounds - 1) * self.round_s(False)
        bench = self.bench_s() if self.benches else 0.0
        calibration = (self.rounds + 1) * CALIBRATION_S  # a round's last opens the next
        return (
            bench
            + LOADGEN_START_S
            + calibration
            + len(self.subjects) * (per_target + self.servers_s())
        )

    def server_processes(self) -> int:
        """Return how many processes of each real server the run measures: one for a --url
        deployment, never more than there are rounds."""
        return 1 if self.url else max(1, min(self.instances, self.rounds))

    def servers_s(self) -> float:
        """Return the planned seconds to start, verify and stop a target's servers."""
        if self.url is not None:
            return 0.2
        return SERVER_START_S + INSTANCE_START_S * (self.server_processes() - 1)
