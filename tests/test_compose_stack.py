"""docker-compose.yml run for real (``make compose-test``), and the parts it is made of.

The stack test builds the image and runs containers, so it only runs when asked
(``FVF_COMPOSE_TEST=1``, which `make compose-test` sets); the rest runs everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compose._run import StepError, Timings
from compose.base import debian_mirror, dockerfile_base, full_name, host_pip_files, pip_env
from compose.stack import CASES, check_locust_csvs, run_stack
from loadtests.common import healthcheck
from loadtests.robustness.cases import BY_NAME

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("FVF_COMPOSE_TEST") != "1",
    reason="builds and runs containers: `make compose-test` (FVF_COMPOSE_TEST=1)",
)
def test_compose_stack_serves_checks_loads_and_goes_down() -> None:
    timings = Timings()
    try:
        run_stack(timings)
    except StepError as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        print(timings.summary(), flush=True)
    assert [name for name, _, _ in timings.steps] == [
        "engine", "base", "build", "up", "healthy", "check", "load", "down",
    ]  # fmt: skip


def test_cases_are_in_the_catalogue_with_valid_and_invalid_bodies() -> None:
    statuses = {BY_NAME[name].expected_status for name in CASES}
    assert 200 in statuses
    assert {422, 413, 415} <= statuses


def test_base_is_the_dockerfiles() -> None:
    assert full_name(dockerfile_base()) == "docker.io/library/python:3.11-slim"
    assert full_name("quay.io/org/image:1") == "quay.io/org/image:1"
    assert full_name("localhost/image") == "localhost/image"
    assert full_name("org/image") == "docker.io/org/image"


def test_debian_mirror_from_deb822_skips_security(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n"
    )
    (tmp_path / "other.list").write_text("deb https://packages.example/apt cloud-bookworm main\n")
    assert debian_mirror([tmp_path / "missing.list", tmp_path]) == "http://mirror.example/debian"


def test_debian_mirror_from_one_line_sources(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [signed-by=/k.gpg] http://mirror.example/debian/ bookworm main\n"
    )
    assert debian_mirror([sources]) == "http://mirror.example/debian/"
    sources.write_text("deb http://ppa.example/ubuntu jammy main\n")
    with pytest.raises(StepError, match="no Debian archive"):
        debian_mirror([sources])


def test_host_pip_files_and_env_reach_the_image(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.crt"
    bundle.write_text("certificate")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("torch<3\n")
    user_conf = tmp_path / "xdg" / "pip" / "pip.conf"
    user_conf.parent.mkdir(parents=True)
    user_conf.write_text(f"[global]\nconstraint = {constraints}\n")
    env = {
        "SSL_CERT_FILE": str(bundle),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "PIP_INDEX_URL": "https://index.example/simple",
    }
    files = host_pip_files(home=tmp_path / "home", env=env)
    assert files["/etc/ssl/certs/ca-certificates.crt"] == bundle
    assert files["/root/.config/pip/pip.conf"] == user_conf
    assert files[str(constraints)] == constraints  # named by the config: same path inside
    assert pip_env(env) == {
        "PIP_INDEX_URL": "https://index.example/simple",
        "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
    }


_WRITE_LOCUST_CSV = """
import sys
from locust.env import Environment
from locust.stats import StatsCSVFileWriter

base, failures = sys.argv[1], int(sys.argv[2])
environment = Environment()
environment.stats.log_request("POST", "/predict", 1.5, 100)
for _ in range(failures):
    environment.stats.log_error("POST", "/predict", "status 500")
writer = StatsCSVFileWriter(environment, [0.5, 0.99], base)
writer.requests_csv(writer.requests_csv_writer)
writer.close_files()
"""


def test_locust_csv_check_reads_what_locust_writes(tmp_path: Path) -> None:
    # Locust's own writer, as `locust --csv results/docker-<target>` uses it; in a
    # subprocess, since importing Locust monkey-patches the interpreter (gevent).
    for target, failures in [("flask", 0), ("fastapi", 1)]:
        base = str(tmp_path / f"docker-{target}")
        subprocess.run(
            [sys.executable, "-c", _WRITE_LOCUST_CSV, base, str(failures)],
            check=True,
            timeout=60,
            capture_output=True,
        )
    notes: list[str] = []
    check_locust_csvs(tmp_path, ["flask"], notes)
    assert notes == ["flask: 1 requests, 0 failed"]
    with pytest.raises(StepError, match="1 failed"):
        check_locust_csvs(tmp_path, ["fastapi"], [])
    with pytest.raises(StepError, match="wrote no"):
        check_locust_csvs(tmp_path, ["flask-seed"], [])


def test_healthcheck_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main(["http://127.0.0.1:1/health", "extra"]) == 2
    assert "usage:" in capsys.readouterr().err
