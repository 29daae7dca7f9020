"""summary.json and phases.csv: every figure of a bench run, per target and per round."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field

from loadtests.common.runfiles._base import UNITS, Percentiles, RunFile, read_csv, write_json
from loadtests.common.runfiles._ladder import (
    Alone,
    CpuSplit,
    CurvePoint,
    Rung,
    Sustainable,
)
from loadtests.common.runfiles._robustness import OverloadResult

SUMMARY_SCHEMA = "flask-vs-fastapi/bench-summary/2"
SUMMARY_FILE = "summary.json"
# pytest-benchmark's own file of the benches timed on the CPU clock, beside benchmarks.json
# (Files.benchmarks_json), written by loadtests.bench.benches.
BENCHMARKS_CPU_FILE = "benchmarks_cpu.json"
PHASES_FILE = "phases.csv"


class Phase(Percentiles):
    """One measured phase (Locust or wrk); over repeats: counts summed, figures median.

    ``load_generator_bound``: one
    load-generator process, all of them or their cores above 90 % busy. ``disturbed``:
    other processes used more than a quarter of a core.
    """

    phase: str
    kind: Literal["closed", "fixed"] | None = None  # None: wrk
    path: str | None = None
    users: int | None = None  # concurrency level (wrk: connections)
    connections: int | None = None
    locust_workers: int | None = None
    duration_s: float | None = None
    requests: int = 0
    completed: int | None = None
    successes: int | None = None
    failures: int | None = None
    incomplete: int | None = None
    non_2xx: int | None = None
    socket_errors: int | None = None
    rps: float | None = None
    good_rps: float | None = None
    error_rate: float | None = None
    by_status: dict[str, int] = {}
    errors: dict[str, int] = {}
    samples: int | None = None
    lg_cpu_max_pct: float | None = None
    lg_cpu_mean_pct: float | None = None
    lg_cpu_total_max_pct: float | None = None
    server_cpu_pct: float | None = None
    server_cpu_max_pct: float | None = None
    # wrk: the server's CPU time over the pass's wall time, percent of its pinned cores (a
    # saturated server uses all of them; below SATURATION_LIMIT_PCT the pass was disturbed)
    server_share_pct: float | None = None
    server_rss_mb: float | None = None
    load_generator_bound: bool = False
    other_cpu_pct: float | None = None
    lg_cores_busy_pct: float | None = None
    server_cores_busy_pct: float | None = None
    disturbed: bool = False
    steal_pct: float | None = None  # the hypervisor's steal time, percent of one core
    # wrk: the server's CPU per answered request (its process tree's CPU times), split
    user_us: float | None = None
    kernel_us: float | None = None
    connections_per_request: float | None = None  # accepted by the server (TCP PassiveOpens)
    client_connections_per_request: float | None = None  # opened by wrk (TCP ActiveOpens)
    valid: bool = True  # the load generator had headroom: see VALIDITY
    invalid_reason: str | None = None
    files: list[dict[str, str]] = []
    # invalid mix
    bad_fraction: float | None = None
    by_case: dict[str, dict[str, int]] = {}
    # over repeats
    repeats: int = 1
    spread: dict[str, list[float]] = {}


PHASE_FIELDS = frozenset(Phase.model_fields)


class RoundFigures(RunFile):
    """The figures of one target in one round, the raw material of every paired ratio."""

    round: int
    instance: int = 1  # older runs: which of the resident processes this round measured
    server_pid: int | None = None  # the visit's own process (None for a --url deployment)
    server_pids: list[int] = []  # every process the visit started and measured (--instances)
    warmup_rps: float | None = None  # wrk's uncounted first second on the fresh process
    level: int | None = None  # the closed-loop concurrency measured (the peak level)
    locust_rps: float | None = None
    locust_valid: bool = False
    wrk_rps: float | None = None  # the mean of the round's valid wrk passes (all if none is)
    wrk_valid: bool = False  # at least one pass valid
    wrk_samples: list[float] = []  # each wrk pass's req/s, in the order measured
    wrk_samples_valid: list[bool] = []  # whether each pass counts (older runs: empty)
    cpu_us_per_request: float | None = None  # server CPU per answered request, at wrk's peak
    user_us: float | None = None  # its user part (psutil cpu_times of the server's tree)
    kernel_us: float | None = None  # its kernel part
    connections_per_request: float | None = None  # accepted by the server during wrk
    client_connections_per_request: float | None = None  # opened by wrk (cross-check)
    sustainable_rps: float | None = None
    sustainable_valid: bool = False
    p99_ms: dict[str, float] = {}  # offered rate -> p99 (ms) of the valid ladder steps


class Controls(RunFile):
    """The two controls of a target, at its peak level."""

    health: Phase | None = None  # GET /health: server and framework alone
    noop: Phase | None = None  # POST /predict on an FVF_BACKEND=noop server


class Ratios(RunFile):
    """Ratios of one target's phases."""

    predict_to_noop: float | None = None  # peak.rps / noop.rps: the model's cost
    noop_to_health: float | None = None  # noop.rps / health.rps: parsing, validation, handler


class CpuDecomposition(RunFile):
    """CPU microseconds per request that add up to the server's CPU per request under load:
    model + validation + framework + server and kernel = server."""

    model_us: float  # the model bench on the CPU clock
    validation_us: float  # parsing and validation (0 for the unvalidated seed handler)
    framework_us: float  # the in-process request's CPU minus model and validation
    in_process_us: float  # one in-process request (time.process_time: every thread)
    server_kernel_us: float | None = None  # server_us - in_process_us: the rest of a request
    server_us: float | None = None  # RoundFigures.cpu_us_per_request, median over rounds


class Decomposition(RunFile):
    """Per-request microseconds. The flat fields are wall time (time.perf_counter): model,
    validation and framework from the in-process benches, one in-process request, the HTTP
    p50 at one user (Locust) and their difference, server+network. ``cpu``: the split on the
    CPU clock, which adds up (None: a run before the CPU clock was measured)."""

    model_us: float
    validation_us: float
    framework_us: float
    in_process_us: float
    http_p50_us: float | None = None
    server_network_us: float | None = None
    cpu: CpuDecomposition | None = None


class Pair(RunFile):
    """Two targets compared as numerator:denominator, and why they are comparable."""

    name: str
    numerator: str
    denominator: str
    # framework: FastAPI:Flask; other: server, handler...; control: the A/A pair
    kind: Literal["framework", "other", "control"]
    label: str
    note: str


class DocsPage(RunFile):
    """One documentation page of a target, and whether it works without internet."""

    path: str
    status: int | None  # None: no answer
    assets: int = 0  # scripts and stylesheets the page loads
    external_assets: list[str] = []  # loaded from another host (a CDN)
    missing_assets: list[str] = []  # on the server, but not answering 200
    usable_offline: bool = False
    error: str | None = None


class DocsCheck(RunFile):
    """The documentation a target serves: its OpenAPI document, /docs and /redoc."""

    openapi_status: int | None = None
    openapi_paths: list[str] = []
    pages: list[DocsPage] = []


class TargetSummary(RunFile):
    """Everything measured for one target (medians over repeats), and what it is."""

    name: str
    label: str
    colour: str
    framework: str | None = None
    handler: str | None = None
    server: str | None = None
    description: str
    command: list[str] | None = None
    url: str | None = None
    locust_workers: int
    status: Literal["pending", "running", "partial", "complete", "failed"]
    error: str | None = None
    repeats: int = 0
    sweep: list[Phase] = []
    peak: Phase | None = None
    controls: Controls = Controls()
    ratios: Ratios = Ratios()
    invalid_mix: Phase | None = None
    wrk: Phase | None = None
    locust_vs_wrk: float | None = None
    decomposition: Decomposition | None = None
    flags: list[str] = []
    overload: OverloadResult | None = None
    rounds: list[RoundFigures] = []
    docs: DocsCheck | None = None
    latency_curve: list[CurvePoint] = []
    sustainable_rps: Sustainable | None = None
    twin_of: str | None = None  # the A/A twin: the target it is a second copy of
    rungs: list[Rung] = []  # every rate measured, its rounds pooled
    knee_rps: float | None = None  # round 1's knee on its grid (None: no rung passed)
    ladder_notes: list[str] = []
    cpu_split: CpuSplit | None = None
    alone: Alone | None = None


class BenchStats(RunFile):
    """One in-process bench timed on one clock: pytest-benchmark's statistics, µs per call."""

    median_us: float
    mean_us: float
    min_us: float
    max_us: float
    stddev_us: float
    iqr_us: float
    ops: float
    rounds: int


class BenchFigures(BenchStats):
    """One in-process pytest-benchmark result: its fields on the wall clock (benchmarks.json,
    time.perf_counter), ``cpu`` the same bench on the CPU clock (BENCHMARKS_CPU_FILE,
    time.process_time: every thread of the process, so a thread-pool hop counts)."""

    group: str | None = None
    cpu: BenchStats | None = None  # None: not timed on the CPU clock (or an older run)


class CalibrationFigures(RunFile):
    """The fixed CPU calibration (a pure-Python loop on the server core)."""

    best_ms: float
    median_ms: float
    score: float  # loops per second of the best repeat: tells two machines apart


class RoundInfo(RunFile):
    """One round: its calibration before and after, the machine's noise, and its flags."""

    round: int
    started_at: str
    wall_s: float | None = None
    calibration_before: CalibrationFigures | None = None
    calibration_after: CalibrationFigures | None = None
    # a closing reading out of line that came back in line when taken again at once
    calibration_spike: CalibrationFigures | None = None
    drift: float | None = None  # relative change of the calibration over the round
    steal_pct: float | None = None
    other_cpu_pct: float | None = None
    flags: list[str] = []  # why it was disturbed; a flagged round is left out of verdicts

    @property
    def excluded(self) -> bool:
        """Tell whether the round is left out of the verdicts."""
        return bool(self.flags)


# The figures a verdict may state a difference on. Over 21 default runs (seven sets of
# three, 2026-11-26, ``make stability``) the five pairs whose ratio lies far from 1 kept
# their throughput word in all 21 and their sustainable word in all but two (one
# "undecided" each, in a slow stretch of the machine); the two pairs near 1 (fastapi:flask,
# granian:uvicorn) moved between a decided word and "undecided" (once "a tie" against
# "slower"), and no word ever went between "faster" and "slower". p99 at a common rate and
# CPU per request are computed, shown with their intervals and compared, but their words
# moved far more, so no verdict rests on them.
VERDICT_FIGURES = ("throughput", "sustainable")
AA_PAIR = "aa"  # the A/A control's pair: one target measured as two independent targets


class Comparison(RunFile):
    """One contrast (a pair of targets, one figure): ratios paired per round, the median's
    95 % bootstrap interval, and the word the interval supports."""

    pair: str
    numerator: str
    denominator: str
    figure: Literal["throughput", "sustainable", "p99", "p50", "cpu_per_request"]
    source: str  # where the figures came from: "Locust", "wrk", "open-loop ladder"
    at_rps: float | None = None  # the common offered rate of a p99 comparison
    higher_is_better: bool
    ratios: dict[int, float] = {}  # round -> ratio, of the rounds used (per-round figures)
    rounds: int = 0  # the rounds the interval rests on (0 in older files: len(ratios))
    left_out: dict[int, str] = {}  # round -> why it gave no ratio
    median: float | None = None
    low: float | None = None
    high: float | None = None
    method: str = ""
    word: Literal["faster", "slower", "tie", "undecided"] = "undecided"
    rounds_needed: int | None = None
    sentence: str = ""


class Timing(RunFile):
    """Where the run's time went, seconds (what the budgets of the method are measured on)."""

    open_loop_measured_s: float = 0.0  # the open-loop steps' measured windows
    open_loop_wall_s: float = 0.0  # the open-loop steps from settle to drain
    open_loop_steps: int = 0
    open_loop_invalid: int = 0  # steps invalid for the bound's decision
    measured_s: float = 0.0  # every measured window (Locust, wrk, open loop)
    servers_s: float = 0.0  # starting, verifying and stopping servers
    alone_s: float = 0.0  # the targets alone after the rounds


class Files(RunFile):
    """Paths, relative to the run folder, of the raw files beside summary.json."""

    phases_csv: str = PHASES_FILE
    resources_csv: str = "resources.csv"
    processes: str = "processes.jsonl"
    benchmarks_json: str | None = None  # wall clock; the CPU clock's: BENCHMARKS_CPU_FILE
    histograms: str = "hdr/"
    wrk: str | None = None
    logs: str = "logs/"
    invalid_matrix: str | None = None


class Summary(RunFile):
    """summary.json: every figure of a bench run, with its settings and environment.

    Written when the run starts and again after every phase, so an interrupted run keeps
    what it measured (``status`` says how it ended).
    """

    schema_: str = Field(SUMMARY_SCHEMA, alias="schema")
    status: Literal["running", "complete", "interrupted", "failed"]
    error: str | None = None
    run_id: str
    started_at: str
    finished_at: str | None = None
    wall_s: float | None = None
    mode: Literal["local", "url"]
    settings: dict[str, Any]  # every option of the run (RunSettings.as_dict)
    environment: dict[str, Any]  # machine, OS, Python, packages, commit, model (bench.env)
    # What scheduling the open-loop client got on its core (bench.stepworker.raise_priority:
    # "SCHED_FIFO 1", "nice -10" or "normal"); None: no client started (or an older run).
    client_scheduling: str | None = None
    benchmarks: dict[str, BenchFigures] = {}
    targets: dict[str, TargetSummary] = {}
    pairs: list[Pair] = []
    rounds: list[RoundInfo] = []
    calibration: CalibrationFigures | None = None  # median over the run's calibrations
    ladder: list[float] = []  # the offered rates common to every target
    pair_rungs: dict[str, float] = {}  # pair -> the rung its latency is compared at
    headline_rung: float | None = None  # the rung the headline shows every p99 at
    timing: Timing | None = None
    comparisons: list[Comparison] = []
    warnings: list[str] = []
    files: Files = Files()
    units: dict[str, str] = UNITS

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        """Return the JSON-ready document (``schema`` spelled as in the file)."""
        return self.model_dump(mode="json", by_alias=True)


def write_summary(run_dir: Path, summary: Summary) -> None:
    """Write run_dir/summary.json."""
    write_json(run_dir / SUMMARY_FILE, summary.dump())


def read_summary(run_dir: Path) -> Summary:
    """Load run_dir/summary.json (FileNotFoundError when the folder is no run)."""
    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a bench run folder?")
    return Summary.model_validate_json(path.read_text(encoding="utf-8"))


class PhaseRow(RunFile):
    """One row of phases.csv: one phase of one repeat, in the order it ran."""

    target: str
    round: int
    section: Literal["sweep", "peak", "health", "noop", "wrk", "ladder", "invalid_mix"]
    phase: str
    kind: str | None = None
    path: str | None = None
    users: int | None = None
    offered_rps: float | None = None
    duration_s: float | None = None
    requests: int | None = None
    successes: int | None = None
    failures: int | None = None
    rps: float | None = None
    mean_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    max_ms: float | None = None
    lg_cpu_max_pct: float | None = None
    server_cpu_pct: float | None = None
    server_share_pct: float | None = None
    server_rss_mb: float | None = None
    load_generator_bound: bool = False
    valid: bool = True
    invalid_reason: str | None = None
    hdr: str


PHASE_ROW_COLUMNS = tuple(PhaseRow.model_fields)


def read_phases(run_dir: Path) -> list[PhaseRow]:
    """Load run_dir/phases.csv."""
    return read_csv(run_dir / PHASES_FILE, PhaseRow)
