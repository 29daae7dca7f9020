"""The settings of one bench run, the default and --quick presets, and the time plan."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtests.targets import DEFAULT_WORKERS, TARGETS

SERVER_START_S = 2.0  # start + verify of a server pair, and their stop, for the plan
LOADGEN_START_S = 1.5
PHASE_OVERHEAD_S = 0.15
DISTRIBUTED_OVERHEAD_S = 1.0
MATRIX_S = 2.0  # the invalid-input catalogue, once per target (first repeat)
OVERLOAD_EXTRA_S = 8.0  # peak probe, normal latency, recovery watch around --overload S


@dataclass(frozen=True)
class Preset:
    """Phase lengths and sweep of a kind of run."""

    levels: tuple[int, ...]
    duration_s: float
    warmup_s: float
    server_warmup_s: float
    fixed_fractions: tuple[float, ...]
    bench_max_time_s: float
    sample_interval_s: float


DEFAULT = Preset((1, 8, 32, 64), 3.0, 0.5, 1.5, (0.5, 0.8), 0.25, 0.5)
# Quick: every target, but one level, one fixed rate and half-second phases (about 1 min).
QUICK = Preset((32,), 0.4, 0.15, 0.2, (0.8,), 0.02, 0.25)


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

    targets: tuple[str, ...] = tuple(TARGETS)
    levels: tuple[int, ...] = DEFAULT.levels
    duration_s: float = DEFAULT.duration_s
    warmup_s: float = DEFAULT.warmup_s
    server_warmup_s: float = DEFAULT.server_warmup_s
    fixed_fractions: tuple[float, ...] = DEFAULT.fixed_fractions
    bench_max_time_s: float = DEFAULT.bench_max_time_s
    repeats: int = 1
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
        """Return the planned seconds of the in-process benches (imports, then 13 benches)."""
        return 6.0 + 13 * 2 * self.bench_max_time_s

    def planned_s(self) -> float:
        """Return the planned seconds of the whole run (progress bar and time left)."""
        phases = len(self.levels) + 1 + len(self.fixed_fractions) + 1
        per_subject = phases * self.phase_s() + self.server_warmup_s
        if self.wrk:
            per_subject += max(1, round(self.duration_s)) + 0.3
        if self.url is None or self.noop_url:
            per_subject += self.phase_s() + self.server_warmup_s
        if self.matrix:
            per_subject += MATRIX_S
        if self.overload_s:
            per_subject += self.overload_s + OVERLOAD_EXTRA_S
        per_subject += self.servers_s()
        bench = self.bench_s() if self.benches else 0.0
        return bench + LOADGEN_START_S + self.repeats * len(self.subjects) * per_subject

    def servers_s(self) -> float:
        """Return the planned seconds to start, verify and stop a target's servers."""
        return SERVER_START_S if self.url is None else 0.2
