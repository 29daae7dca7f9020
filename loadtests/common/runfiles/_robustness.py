"""The robustness runs' files: the invalid-input matrix and the overload and fault results."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from loadtests.common.runfiles._base import Percentiles, RunFile, append_csv, csv_header

MATRIX_STEM = "invalid_matrix"


class Latency(Percentiles):
    """Exact latency figures of one histogram (HdrHistogram), milliseconds, and its count."""

    count: int = 0


class TimelineRow(RunFile):
    """One second of an open-loop run: outcomes and latency of the ok requests."""

    t: float
    ok: int = 0
    failed: int = 0
    timed_out: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None


class DriveResult(RunFile):
    """One open-loop run: every request sent is counted once as ok, failed or timed out."""

    rate: float
    duration_s: float
    timeout_s: float
    connections: int
    sent: int
    ok: int
    failed: int
    timed_out: int
    balanced: bool  # every request ended exactly once and none was cut off by the guard
    unaccounted: int = 0  # requests the end-of-run guard had to cancel
    achieved_send_rate: float | None = None
    max_send_lag_s: float | None = None
    goodput: float | None = None
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    latency: Latency = Latency()  # of the ok requests, from the intended send time
    client_cpu_s: float | None = None
    drain_s: float | None = None
    timeline: list[TimelineRow] = []


class OverloadResult(DriveResult):
    """A target driven at a multiple of its peak, then watched until its latency recovers."""

    target: str | None = None
    peak_rps: float
    factor: float
    normal_latency: Latency
    normal_bound_ms: float
    recovered_after_s: float | None = None
    server_alive: bool
    client_bound: bool


class FaultResult(DriveResult):
    """A target driven at a fixed rate while one of its workers is killed."""

    target: str
    workers_before: list[int]
    killed: list[int]
    workers_after: list[int]
    server_pid_before: int
    server_pid_after: int | None = None
    healthy_after: bool


class MatrixRow(RunFile):
    """One catalogue case sent once to one target, and what came back."""

    target: str
    label: str  # "contract", or the seed's "article's behaviour ..."
    case: str
    group: str
    field: str
    method: str  # "POST /predict" for most cases
    content_type: str
    request_bytes: int
    expected_status: int
    status: int | None  # None: no answer
    status_class: str
    verdict: Literal["pass", "article", "fail"]
    problems: str
    latency_ms: float
    response_bytes: int
    json_body: bool
    contract_shape: bool  # the contract's error shape, or a prediction for a 200
    names_field: bool  # the error names every offending field
    traceback: bool
    bytes_sent: int
    answered_early: bool
    error: str
    allow: str  # the Allow header of the answer ("" when absent)
    health_after: bool
    workers_before: str
    workers_after: str
    worker_restarted: bool


MATRIX_COLUMNS = tuple(MatrixRow.model_fields)


class MatrixTargetSummary(RunFile):
    """Per target: status classes, verdicts and lost workers over the catalogue."""

    label: str
    cases: int
    status_class: dict[str, int]
    verdict: dict[str, int]
    worker_restarts: int
    health_failures: int
    failed_cases: list[str]


class MatrixMeta(RunFile):
    """Where and how the matrix was measured."""

    run_id: str | None = None
    time: str | None = None
    targets: dict[str, list[str]] = {}
    workers: int | None = None
    cores: list[int] | None = None
    cases: int
    fields: list[str] = []
    max_error_body_bytes: int | None = None


class MatrixFile(RunFile):
    """invalid_matrix.json: the rows, their per-target summary and where they were taken."""

    meta: MatrixMeta
    summary: dict[str, MatrixTargetSummary]
    rows: list[MatrixRow]


def write_matrix_files(out: Path, matrix: MatrixFile) -> list[Path]:
    """Write invalid_matrix.csv (the rows) and invalid_matrix.json (everything)."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / f"{MATRIX_STEM}.csv", out / f"{MATRIX_STEM}.json"
    csv_header(csv_path, MATRIX_COLUMNS)
    append_csv(csv_path, matrix.rows)
    json_path.write_text(matrix.model_dump_json(indent=1) + "\n", encoding="utf-8")
    return [csv_path, json_path]


def read_matrix(run_dir: Path) -> MatrixFile | None:
    """Load run_dir/invalid_matrix.json; None when the run did not measure it."""
    path = run_dir / f"{MATRIX_STEM}.json"
    if not path.is_file():
        return None
    return MatrixFile.model_validate_json(path.read_text(encoding="utf-8"))
