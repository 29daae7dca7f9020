"""The sweep's files: ``sweep.json`` (the ``Sweep`` model) and ``sweep.csv`` (one row a visit).

The sweep writes them and the report reads them back through these same models.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

VERSION = 1
DISTURBED_PCT = 10.0  # other processes' CPU on the server core(s), % of one core
Ending = Literal["complete", "failed", "interrupted"]


class Preset(BaseModel):
    """Phase lengths of a kind of sweep."""

    rounds: int
    duration_s: int  # wrk counts whole seconds
    warmup_s: float


DEFAULT = Preset(rounds=3, duration_s=2, warmup_s=0.5)
QUICK = Preset(rounds=1, duration_s=1, warmup_s=0.2)


class SweepSettings(BaseModel):
    """Every option of a sweep, as run."""

    targets: list[str]
    costs: list[str]
    rounds: int
    duration_s: int
    warmup_s: float
    connections: int
    probe_rate: float
    server_cores: list[int] | None
    lg_cores: list[int] | None
    quick: bool


class TargetInfo(BaseModel):
    """What was measured under a target's name: its table row."""

    name: str
    framework: str
    handler: str
    server: str
    description: str
    command: list[str]


class Visit(BaseModel):
    """One target measured once at one model cost: wrk on /predict, the /health probe."""

    cost: str
    round: int
    target: str
    rps: float
    requests: int
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    health_probes: int
    health_errors: int
    health_p50_ms: float | None
    health_p99_ms: float | None
    health_max_ms: float | None
    server_cpu_pct: float | None  # CPU the server's processes used, % of one core
    intruder_cpu_pct: float | None  # CPU others used on the server core(s) meanwhile
    disturbed: bool  # intruders above DISTURBED_PCT: left out of the ratio table
    wrk_output: str


class Ratio(BaseModel):
    """FastAPI:Flask throughput of one pair in one round at one cost."""

    pair: str
    label: str
    numerator: str
    denominator: str
    cost: str
    round: int
    ratio: float | None
    disturbed: bool  # either side was disturbed


class Sweep(BaseModel):
    """sweep.json: written by the sweep, read back through the same model."""

    version: int = VERSION
    run_id: str
    status: Literal["running", "complete", "failed", "interrupted"] = "running"
    error: str | None = None
    started_at: str
    finished_at: str | None = None
    wall_s: float | None = None
    settings: SweepSettings
    targets: dict[str, TargetInfo]
    model_us: dict[str, float]  # in-process CPU time of one predict per backend (median)
    visits: list[Visit] = []
    ratios: list[Ratio] = []

    def write(self, run_dir: Path) -> None:
        """Write sweep.json and sweep.csv into run_dir (replacing them whole)."""
        tmp = run_dir / "sweep.json.tmp"
        tmp.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        tmp.replace(run_dir / "sweep.json")
        with (run_dir / "sweep.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, list(Visit.model_fields))
            writer.writeheader()
            writer.writerows(v.model_dump() for v in self.visits)

    @classmethod
    def read(cls, run_dir: Path) -> Sweep:
        """Read a run folder's sweep.json."""
        return cls.model_validate_json((run_dir / "sweep.json").read_text(encoding="utf-8"))
