"""The invalid-input matrix over real HTTP: flask, fastapi and the article's flask-seed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from loadtests.common.runfiles import MatrixMeta, MatrixRow, read_matrix
from loadtests.common.servers import launch
from loadtests.robustness import matrix as invalid
from loadtests.robustness.cases import BY_NAME, CASES, Case
from loadtests.robustness.matrix import (
    SEED_LABEL,
    run_matrix,
    summarize,
    write_matrix,
)
from loadtests.targets import get_target
from tests.conftest import FRONTENDS
from tests.test_cases import ids

pytestmark = pytest.mark.integration

VALIDATED = FRONTENDS
SEED = "flask-seed"
Rows = dict[str, dict[str, MatrixRow]]  # target -> case name -> row


@pytest.fixture(scope="module")
def matrix(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Rows:
    """Start each target in turn, run the whole catalogue against it, stop it by PID."""
    logs = tmp_path_factory.mktemp("logs")
    rows: Rows = {}
    for name in (*VALIDATED, SEED):
        proc, url = launch(get_target(name), workers=1, cores=None, log_path=logs / f"{name}.log")
        try:
            rows[name] = {r.case: r for r in run_matrix(url, name, proc.pid)}
        finally:
            proc.stop()
        assert not proc.alive()
    return rows


@pytest.mark.parametrize("target", VALIDATED)
@pytest.mark.parametrize(
    "case",
    CASES,
    ids=ids,
)
def test_validated_target_meets_the_contract(matrix: Rows, target: str, case: Case) -> None:
    """Exact status, contract body naming the field, small, no traceback, server unharmed."""
    row = matrix[target][case.name]
    assert row.verdict == "pass", row.problems


@pytest.mark.parametrize("target", VALIDATED)
def test_validated_target_never_answers_5xx(matrix: Rows, target: str) -> None:
    """No case, not even a known product bug, gets a 5xx or loses the worker."""
    rows = matrix[target].values()
    assert all(r.status is not None and r.status < 500 for r in rows)
    assert all(r.health_after and not r.worker_restarted for r in rows)


@pytest.mark.parametrize("target", VALIDATED)
def test_huge_body_is_refused_before_it_is_read(matrix: Rows, target: str) -> None:
    """The 10 MB body gets 413 before the client has finished sending it."""
    row = matrix[target]["body_10mb"]
    assert row.status == 413
    assert row.answered_early, f"{row.bytes_sent} of {row.request_bytes} bytes sent"


def test_both_frontends_give_the_same_statuses(matrix: Rows) -> None:
    """Over HTTP, flask and fastapi agree on every case's status."""
    flask, fastapi = (matrix[name] for name in VALIDATED)
    assert {k: r.status for k, r in flask.items()} == {k: r.status for k, r in fastapi.items()}


def test_seed_crashes_on_a_string_and_is_labelled_so(matrix: Rows, tmp_path: Path) -> None:
    """The article's handler answers a string with a 500; the matrix keeps it, labelled."""
    row = matrix[SEED]["persons_age_string"]
    assert row.status == 500
    assert row.label == SEED_LABEL
    assert row.verdict == "article"
    assert "status 500" in row.problems
    rows = [r for per_target in matrix.values() for r in per_target.values()]
    csv_path, json_path = write_matrix(rows, tmp_path, MatrixMeta(cases=len(CASES)))
    with csv_path.open(encoding="utf-8") as f:
        written = {(r["target"], r["case"]): r for r in csv.DictReader(f)}
    assert written[(SEED, "persons_age_string")]["status"] == "500"
    assert written[(SEED, "persons_age_string")]["label"] == SEED_LABEL
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["summary"][SEED]["label"] == SEED_LABEL
    assert document["summary"][SEED]["status_class"].get("5xx", 0) > 0
    assert len(document["rows"]) == len(rows)


def test_summary_counts_every_case(matrix: Rows) -> None:
    """The per-target summary accounts for each case exactly once."""
    rows = [r for per_target in matrix.values() for r in per_target.values()]
    summary = summarize(rows)
    for name, s in summary.items():
        assert s.cases == len(CASES) == sum(s.status_class.values()), name


def test_cli_starts_the_target_and_writes_the_files(model_dir: Path, tmp_path: Path) -> None:
    """`python -m loadtests.robustness.matrix` starts a target itself and writes CSV and JSON."""
    cases = ["persons_age_string", "empty_body", "content_type_none"]
    code = invalid.main(
        ["--targets", SEED, "--cases", ",".join(cases), "--out", str(tmp_path), "--cores", ""]
    )
    assert code == 0  # the seed's failures are the article's, not the runner's
    document = read_matrix(tmp_path)
    assert document is not None
    assert [r.case for r in document.rows] == cases
    assert (tmp_path / "invalid_matrix.csv").exists()
    assert BY_NAME["persons_age_string"].field in document.meta.fields
