"""The compose test: docker-compose.yml built, started, checked, loaded and removed.

    python -m compose            # what `make compose-test` runs (through pytest)

Steps, each timed: ``engine`` (Docker's, else podman's API), ``base`` (the Dockerfile's
base image or a stand-in, see compose.base), ``build`` (the project's image), ``up``
(``flask`` and ``fastapi``), ``healthy`` (by the Compose file's own health checks; podman
runs them only when asked, so they are run here with ``podman healthcheck run``),
``check`` (both frontends give the same answer to the same catalogue bodies), ``load``
(the ``load`` profile: Locust master and workers, a short run, its CSVs checked) and
``down``, which runs on success, failure or Ctrl-C alike. Only 127.0.0.1 and the
containers made here are ever sent a request, and every wait is bounded.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compose._run import StepError, Timings, interrupt_on_sigterm, say
from compose.base import ensure_base
from compose.engine import engine
from compose.project import Compose, build_image, wait_healthy
from compose.spec import COMPOSE_FILE, load_services, port_holder, published_ports
from loadtests.robustness.cases import BY_NAME

PROJECT = "fvf-compose-test"  # never the project name of a user's own `make up`
SERVERS = ("flask", "fastapi")
LOAD_SERVICES = ("locust-master", "locust-worker")
# Valid bodies and a few of each family of bad ones, from the one catalogue.
CASES = (
    "valid",
    "all_at_maximum",
    "persons_age_string",
    "gender_above_range",
    "every_field_wrong",
    "unknown_field",
    "empty_body",
    "malformed_not_json",
    "body_over_limit",
    "content_type_text",
)
LOAD_MARGIN_S = 150.0  # Locust start-up, workers joining, CSV writing, compose itself


@dataclass(frozen=True)
class Options:
    """Knobs of one compose test run."""

    load_seconds: int = 10
    locust_workers: int = 2
    users: int = 10


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST body to /predict on 127.0.0.1:port; return the status and the parsed JSON."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/predict", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(payload)
    except ValueError as exc:
        raise StepError(
            f":{port} answered {response.status} with non-JSON {payload[:200]!r}"
        ) from exc


def check_same_answers(ports: dict[str, int], notes: list[str]) -> None:
    """Send each case to every server; all must give the case's status and the same JSON."""
    for name in CASES:
        case = BY_NAME[name]
        answers = {server: post(port, case.body, case.headers) for server, port in ports.items()}
        statuses = {server: status for server, (status, _) in answers.items()}
        if set(statuses.values()) != {case.expected_status}:
            raise StepError(f"case {name}: expected {case.expected_status}, got {statuses}")
        bodies = [body for _, body in answers.values()]
        if any(body != bodies[0] for body in bodies):
            raise StepError(f"case {name}: the answers differ: {answers}")
    notes.append(f"{len(CASES)} catalogue cases, same status and JSON on {', '.join(ports)}")


def check_locust_csvs(folder: Path, targets: list[str], notes: list[str]) -> None:
    """Check each target's Locust stats CSV: requests counted, none failed."""
    for target in targets:
        path = folder / f"docker-{target}_stats.csv"
        if not path.exists():
            found = sorted(p.name for p in folder.iterdir())
            raise StepError(f"Locust wrote no {path.name} (found: {found})")
        with path.open(newline="") as file:
            rows = {row["Name"]: row for row in csv.DictReader(file)}
        total = rows.get("Aggregated")
        if total is None:
            raise StepError(f"{path.name} has no Aggregated row")
        requests, failures = int(total["Request Count"]), int(total["Failure Count"])
        if requests == 0 or failures:
            raise StepError(f"{path.name}: {requests} requests, {failures} failed")
        notes.append(f"{target}: {requests} requests, 0 failed")


def write_override(folder: Path, results: Path) -> Path:
    """Write a Compose override that points Locust's results/ at a scratch folder."""
    override = folder / "compose-test.override.yml"
    spec = {"services": {"locust-master": {"volumes": [f"{results}:/app/results"]}}}
    override.write_text(json.dumps(spec, indent=2))  # JSON is YAML
    return override


@contextmanager
def _down_afterwards(compose: Compose, timings: Timings) -> Iterator[None]:
    try:
        yield
    finally:
        with timings.step("down"):
            compose(
                "--profile",
                "all",
                "--profile",
                "load",
                "down",
                "--remove-orphans",
                "--timeout",
                "5",
                timeout=180,
            )


def run_stack(timings: Timings, options: Options = Options()) -> None:
    """Run every step; raise StepError on the first failure (everything is taken down)."""
    services = load_services()
    ports = {name: published_ports(services[name])[0][0] for name in SERVERS}
    busy = {port: holder for port in ports.values() if (holder := port_holder(port))}
    if busy:
        raise StepError(f"ports already taken: {busy}; is `make up` running? (`make down`)")
    with ExitStack() as stack:
        with timings.step("engine") as notes:
            eng = stack.enter_context(engine(notes))
        with timings.step("base") as notes:
            ensure_base(eng, notes)
        with timings.step("build") as notes:
            build_image(eng, notes)
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fvf-compose-")))
        results = scratch / "results"
        results.mkdir()
        targets = list(SERVERS)
        env = {
            "WORKERS": "1",
            "LOCUST_WORKERS": str(options.locust_workers),
            "USERS": str(options.users),
            "SPAWN_RATE": str(options.users),
            "DURATION": f"{options.load_seconds}s",
            "LOAD_TARGETS": " ".join(targets),
            "FVF_UID": str(os.getuid()),
            "FVF_GID": str(os.getgid()),
        }
        files = [COMPOSE_FILE, write_override(scratch, results)]
        compose = Compose(eng, PROJECT, files, env, scratch / "compose.log")
        stack.enter_context(_down_afterwards(compose, timings))
        with timings.step("up"):
            compose("up", "-d", "--no-build", *SERVERS)
        with timings.step("healthy") as notes:
            wait_healthy(compose, SERVERS, notes)
        with timings.step("check") as notes:
            check_same_answers(ports, notes)
        with timings.step("load") as notes:
            load_timeout = options.load_seconds * len(targets) + LOAD_MARGIN_S
            try:
                compose(
                    "--profile",
                    "load",
                    "up",
                    "--no-build",
                    "--scale",
                    f"locust-worker={options.locust_workers}",
                    "--exit-code-from",
                    "locust-master",
                    *LOAD_SERVICES,
                    timeout=load_timeout,
                )
            except StepError as exc:
                raise StepError(f"{exc}\n{compose.service_logs('locust-master')}") from exc
            check_locust_csvs(results, targets, notes)


def main(argv: list[str] | None = None) -> int:
    """Run the compose test from the command line; return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m compose", description=__doc__.split("\n")[0])
    parser.add_argument("--load-seconds", type=int, default=Options.load_seconds)
    parser.add_argument("--locust-workers", type=int, default=Options.locust_workers)
    parser.add_argument("--users", type=int, default=Options.users)
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    timings = Timings()
    try:
        run_stack(timings, Options(args.load_seconds, args.locust_workers, args.users))
    except StepError as exc:
        say(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted: containers and podman's API taken down")
        return 130
    finally:
        say(timings.summary())
    say("passed")
    return 0
