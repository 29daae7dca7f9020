"""docker-compose.yml and the Dockerfile mirror the targets table (static: no Docker engine)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from compose.spec import load_services, published_ports
from loadtests.targets import DEFAULT_WORKERS, TARGETS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
CONTAINER_PORT = 8000
HEALTH_URL = f"http://127.0.0.1:{CONTAINER_PORT}/health"
DEFAULT_SERVERS = ("flask", "fastapi")  # started without a profile
LOAD_SERVICES = ("locust-master", "locust-worker")
LOCUSTFILE = "loadtests/loadgen/locustfile.py"
# Keys in which servers may differ; everything else (image, limits, healthcheck) is shared.
PER_SERVER_KEYS = {"command", "ports", "environment", "profiles"}


def environment(service: dict[str, Any]) -> dict[str, str]:
    """Return a service's environment as a mapping, from either Compose syntax."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def dependencies(services: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    """Return every service name waits for, directly or not, with the condition of the wait."""
    found: dict[str, str] = {}
    pending = [name]
    while pending:
        depends_on = services[pending.pop()].get("depends_on") or {}
        if isinstance(depends_on, list):
            depends_on = {dep: {"condition": "service_started"} for dep in depends_on}
        for dep, spec in depends_on.items():
            if dep not in found:
                found[dep] = spec.get("condition", "service_started")
                pending.append(dep)
    return found


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Return the Dockerfile's (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines)
        if word and not word.startswith("#")
    ]


def instruction(name: str) -> list[str]:
    """Return the arguments of every Dockerfile instruction called name."""
    return [args for word, args in dockerfile_instructions() if word == name]


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    """Return the services with no variable set (every knob at its default)."""
    return load_services()


def test_no_version_key() -> None:
    assert "version" not in yaml.safe_load(COMPOSE_FILE.read_text())


def test_every_target_is_a_service(services: dict[str, dict[str, Any]]) -> None:
    assert set(TARGETS) <= set(services)
    assert set(services) == set(TARGETS) | set(LOAD_SERVICES)


@pytest.mark.parametrize("workers", [None, 4])
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_command_is_the_targets_table(name: str, workers: int | None) -> None:
    services = load_services({} if workers is None else {"WORKERS": str(workers)})
    expected = TARGETS[name].command(
        host="0.0.0.0", port=CONTAINER_PORT, workers=workers or DEFAULT_WORKERS
    )
    assert services[name]["command"] == expected


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_environment_has_the_targets_env(name: str, services: dict[str, dict[str, Any]]) -> None:
    assert TARGETS[name].env.items() <= environment(services[name]).items()


def test_default_servers_have_no_profile(services: dict[str, dict[str, Any]]) -> None:
    for name in DEFAULT_SERVERS:
        assert "profiles" not in services[name]
    for name in set(TARGETS) - set(DEFAULT_SERVERS):
        assert services[name].get("profiles"), f"{name} should only start under a profile"


def test_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    host_ports = [host for service in services.values() for host, _ in published_ports(service)]
    assert len(host_ports) == len(set(host_ports))
    for name in TARGETS:
        assert [container for _, container in published_ports(services[name])] == [CONTAINER_PORT]


def test_servers_differ_only_in_command_port_and_env(services: dict[str, dict[str, Any]]) -> None:
    shared = [
        {key: value for key, value in services[name].items() if key not in PER_SERVER_KEYS}
        for name in TARGETS
    ]
    assert shared[0].get("cpus")
    assert shared[0].get("mem_limit")
    assert all(rest == shared[0] for rest in shared)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_healthcheck_hits_health(name: str, services: dict[str, dict[str, Any]]) -> None:
    test = services[name]["healthcheck"]["test"]
    assert test[0] in {"CMD", "CMD-SHELL"}
    assert HEALTH_URL in " ".join(test)


class _HealthHandler(BaseHTTPRequestHandler):
    """Answer GET /health with the status and body the server under test sets."""

    def do_GET(self) -> None:
        status, body = self.server.answer  # type: ignore[attr-defined]
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    """Serve /health on a free loopback port in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("status", "body", "healthy"),
    [(200, {"status": "ok"}, True), (200, {"status": "down"}, False), (503, {}, False)],
)
def test_healthcheck_command_works(
    services: dict[str, dict[str, Any]],
    health_server: ThreadingHTTPServer,
    status: int,
    body: dict[str, str],
    healthy: bool,
) -> None:
    health_server.answer = (status, body)  # type: ignore[attr-defined]
    test = services["flask"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    port = health_server.server_address[1]
    argv = [arg.replace(HEALTH_URL, f"http://127.0.0.1:{port}/health") for arg in test[2:]]
    result = subprocess.run(
        [sys.executable, *argv], capture_output=True, timeout=30, cwd=ROOT, check=False
    )
    assert (result.returncode == 0) is healthy


def test_healthcheck_fails_when_nothing_listens(services: dict[str, dict[str, Any]]) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    test = services["flask"]["healthcheck"]["test"]
    argv = [arg.replace(HEALTH_URL, f"http://127.0.0.1:{port}/health") for arg in test[2:]]
    result = subprocess.run(
        [sys.executable, *argv], capture_output=True, timeout=30, cwd=ROOT, check=False
    )
    assert result.returncode == 1


def test_healthcheck_arguments_have_no_spaces(services: dict[str, dict[str, Any]]) -> None:
    # podman's Docker-compatible API (4.3) splits exec-form arguments at their spaces.
    test = services["flask"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert not [arg for arg in test if any(char.isspace() for char in arg)]


def test_load_services_wait_for_healthy_servers(services: dict[str, dict[str, Any]]) -> None:
    for name in LOAD_SERVICES:
        assert services[name]["profiles"] == ["load"]
        assert services[name]["image"] == services["flask"]["image"]
        waits = dependencies(services, name)
        for server in DEFAULT_SERVERS:
            assert waits.get(server) == "service_healthy", f"{name} must wait for {server}"


def test_locust_runs_the_locustfile_and_writes_results(
    services: dict[str, dict[str, Any]],
) -> None:
    master, worker = (" ".join(services[name]["command"]) for name in LOAD_SERVICES)
    assert f"-f {LOCUSTFILE} --master --headless" in master
    assert '--csv "results/' in master
    assert f"-f {LOCUSTFILE} --worker --master-host locust-master" in worker
    (workdir,) = instruction("WORKDIR")
    assert f"./results:{workdir}/results" in services["locust-master"]["volumes"]


@pytest.mark.parametrize("workers", [None, 8])
def test_master_expects_as_many_workers_as_are_started(workers: int | None) -> None:
    services = load_services({} if workers is None else {"LOCUST_WORKERS": str(workers)})
    replicas = int(services["locust-worker"]["deploy"]["replicas"])
    assert replicas == (workers or replicas)
    assert f"--expect-workers {replicas} " in " ".join(services["locust-master"]["command"])


def test_dockerfile_base_is_slim_python_of_the_lock() -> None:
    (base,) = instruction("FROM")
    lock_python = re.search(r"--python-version (\S+)", (ROOT / "requirements.lock").read_text())
    assert lock_python
    assert re.fullmatch(rf"python:{re.escape(lock_python[1])}(\.\d+)?-slim(-\w+)?", base)


def test_dockerfile_cmd_is_exec_form() -> None:
    *_, cmd = instruction("CMD")
    assert isinstance(json.loads(cmd), list)


def test_dockerfile_sets_pythonunbuffered() -> None:
    pairs = (pair.partition("=") for args in instruction("ENV") for pair in shlex.split(args))
    assert ("PYTHONUNBUFFERED", "=", "1") in pairs


def test_dockerfile_runs_as_non_root() -> None:
    *_, user = instruction("USER")
    assert user.split(":")[0] not in {"root", "0"}


def test_dockerfile_installs_the_lock_and_trains() -> None:
    runs = " ".join(instruction("RUN"))
    assert "requirements.lock" in runs
    assert "pip install --no-deps ." in runs
    assert "python -m shared_model.train" in runs


def test_dockerignore_lets_the_package_in() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = [*(p.rstrip("*") for p in packages), project["project"]["readme"]]
    allowed = (ROOT / ".dockerignore").read_text().splitlines()
    for path in [*needed, "pyproject.toml", "requirements.lock"]:
        assert f"!{path}" in allowed or f"!{path}/" in allowed, f"{path} is not in the image"


def test_docker_compose_accepts_the_file() -> None:
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.skip("docker-compose is not installed (make system-deps installs it)")
    result = subprocess.run(
        [docker_compose, "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
