"""Schemathesis against both validated frontends, over HTTP, with the contract's document.

Two runs per frontend, both deterministic:

- in-process (``fuzz`` below): ``FUZZ_EXAMPLES`` generated requests (default 200, ``make
  fuzz`` sets 1000), half schema-valid, half schema-breaking. Every answer must be no
  server error, with a documented status and content type, and match the documented
  schema; every schema-breaking body must be refused.
- the command line, ``schemathesis run <base>/openapi.json --checks all`` in positive and
  in negative mode, against the frontend started with ``python -m loadtests.serve``.

One refusal is expected: a body whose diastolic pressure is not below its systolic one is
schema-valid (no JSON Schema relates two fields) yet refused. ``filter_failure`` below drops
exactly those failures (a 422 whose every error item is that rule) and nothing else; the
command line loads it with ``SCHEMATHESIS_HOOKS=tests.test_fuzz`` and counts what it dropped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from loadtests.common.servers import launch
from loadtests.targets import get_target
from shared_model import openapi_document
from tests.conftest import FRONTENDS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# The one schema-valid body the contract refuses on purpose: beyond what JSON Schema states.
DIASTOLIC_RULE = "diastolic_not_below_systolic"
CLI_MODES = ("positive", "negative")
CLI_TIMEOUT_S = 540


def breaks_only_the_diastolic_rule(status: int, body: bytes) -> bool:
    """Tell whether an answer is a 422 whose every error item is the diastolic rule."""
    if status != 422:
        return False
    try:
        detail = json.loads(body)["detail"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(detail) and all(item.get("type") == DIASTOLIC_RULE for item in detail)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a schema-valid body refused only for diastolic >= systolic."""
    return not breaks_only_the_diastolic_rule(response.status_code, response.content)


@pytest.fixture(scope="module", params=FRONTENDS)
def server(request: pytest.FixtureRequest, model_dir: Path) -> Iterator[tuple[str, str]]:
    """Start one validated target on a loopback port; stop it by PID afterwards."""
    proc, url = launch(get_target(request.param), workers=1, cores=None)
    try:
        yield request.param, url
    finally:
        proc.stop()


def refusal_reason(item: dict[str, Any]) -> str:
    """Classify one error item of a schema-valid body the server refused."""
    if item["type"] == DIASTOLIC_RULE:
        return DIASTOLIC_RULE
    return f"unexpected: {item['type']} at {item['loc']}"


def fuzz(url: str, mode: GenerationMode, examples: int) -> dict[str, Any]:
    """Run ``examples`` generated requests of one mode; collect statuses and failures."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    strategy = (
        schema.as_strategy(generation_mode=mode)
        if mode == GenerationMode.POSITIVE
        else schema["/predict"]["POST"].as_strategy(generation_mode=mode)
    )
    statuses: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    session = requests.Session()

    @given(case=strategy)
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        try:
            response = case.call_and_validate(base_url=url, session=session, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:
            failures[str(exc).strip().splitlines()[0][:200]] += 1
            return
        statuses[f"{case.operation.label} {response.status_code}"] += 1
        if mode == GenerationMode.POSITIVE and response.status_code == 422:
            for item in response.json()["detail"]:
                refusals[refusal_reason(item)] += 1

    try:
        run()
    finally:
        session.close()
    return {
        "cases": sum(statuses.values()) + sum(failures.values()),
        "statuses": dict(statuses),
        "failures": dict(failures),
        "refusals": dict(refusals),
    }


def test_both_serve_the_contracts_document(server: tuple[str, str]) -> None:
    """Each frontend serves the one OpenAPI document of shared_model at /openapi.json."""
    with requests.get(f"{server[1]}/openapi.json", timeout=5) as response:
        assert response.status_code == 200
        assert response.json() == openapi_document()


def test_generated_requests_meet_the_schema(server: tuple[str, str]) -> None:
    """No server error, no undocumented answer; schema-breaking bodies refused."""
    name, url = server
    half = FUZZ_EXAMPLES // 2
    results = {
        "positive": fuzz(url, GenerationMode.POSITIVE, half),
        "negative": fuzz(url, GenerationMode.NEGATIVE, FUZZ_EXAMPLES - half),
    }
    total = sum(r["cases"] for r in results.values())
    print(f"\nschemathesis {name}: {total} cases", results)
    assert total >= FUZZ_EXAMPLES
    for mode, result in results.items():
        assert not result["failures"], (mode, result["failures"])
        assert not any(" 5" in status for status in result["statuses"]), result["statuses"]
    unexpected = {k for k in results["positive"]["refusals"] if k != DIASTOLIC_RULE}
    assert not unexpected, unexpected
    assert results["positive"]["statuses"].get("POST /predict 200", 0) > 0
    negative = results["negative"]["statuses"]
    assert set(negative) <= {"POST /predict 413", "POST /predict 415", "POST /predict 422"}


def test_diastolic_filter_drops_only_that_rule() -> None:
    """The hook's test: only a 422 made of diastolic items is dropped."""
    item = {"loc": ["body", "Lower_blood_pressure"], "msg": "m", "type": DIASTOLIC_RULE}
    other = {"loc": ["body", "Persons_age"], "msg": "m", "type": "int_type"}
    assert breaks_only_the_diastolic_rule(422, json.dumps({"detail": [item]}).encode())
    assert not breaks_only_the_diastolic_rule(422, json.dumps({"detail": [item, other]}).encode())
    assert not breaks_only_the_diastolic_rule(422, json.dumps({"detail": []}).encode())
    assert not breaks_only_the_diastolic_rule(200, json.dumps({"detail": [item]}).encode())
    assert not breaks_only_the_diastolic_rule(422, b"not json")


def schemathesis_run(
    url: str, mode: str, examples: int, workdir: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``schemathesis run <url>/openapi.json --checks all`` in one generation mode.

    It runs in ``workdir``, where it keeps its cache (``.schemathesis/``), not in the tree.
    """
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--no-color",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--mode",
        mode,
        "--max-examples",
        str(examples),
        "--seed",
        "1",
        "--generation-database",
        "none",
        "--workers",
        "1",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.test_fuzz", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )


def summary_of(output: str) -> str:
    """Return the closing summary of a schemathesis run (from its last ``====`` rule)."""
    lines = output.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"^=+ ?SUMMARY ?=+$", line)]
    return "\n".join(lines[starts[-1] :] if starts else lines[-25:])


@pytest.mark.slow
@pytest.mark.parametrize("mode", CLI_MODES)
def test_schemathesis_command_line(server: tuple[str, str], mode: str, tmp_path: Path) -> None:
    """The command line with every check finds nothing but the diastolic rule, dropped."""
    name, url = server
    examples = max(FUZZ_EXAMPLES // 10, 20)  # per operation, with every phase of the CLI
    result = schemathesis_run(url, mode, examples, tmp_path)
    summary = summary_of(result.stdout)
    print(f"\nschemathesis run {name} --mode {mode} -n {examples}:\n{summary}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or "passed" in summary, summary
