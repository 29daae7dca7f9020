"""``make up`` and ``make down`` (compose.deploy): refusals without an engine, and for real.

The checks of what make up is asked for, and its answer where there is no engine, need no
engine and run everywhere. The real round (make up, again, make down) builds and runs
containers, so it only runs when asked (``FVF_COMPOSE_TEST=1``, which `make compose-test`
sets), as a project of its own: a user's own `make up` is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from compose.deploy import State, cli_engine, read_state, state_folder, write_state
from compose.engine import Service, engine_kind
from compose.project import containers
from compose.spec import BadInput, load_services, port_holder, project_name, select
from compose.stack import post
from shared_model import EXAMPLE

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make") or "make"
SERVER_PORTS = {"flask": 8001, "fastapi": 8002}
TEST_PROJECT = "fvf-up-test"  # neither a user's project nor the compose test's
_MAKES_OWN = re.compile(r"^make(\[\d+\])?: \*\*\*")  # make's "Error N" line after a failure


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run make in the project folder; return its result (output as text)."""
    # Not the flags of a make this test may run under (`make test`): only its own output.
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    return subprocess.run(
        [MAKE, "--no-print-directory", "-C", str(ROOT), *args],
        env={**{k: v for k, v in os.environ.items() if k not in outer}, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )


def own_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """Return what the command printed, without make's own closing error line."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.strip() and not _MAKES_OWN.match(line)]


@pytest.fixture
def no_engine_path(tmp_path: Path) -> dict[str, str]:
    """Return an environment whose PATH has no docker, podman, apt-get or dpkg.

    It is a machine with neither engine nor a way to install podman, as make up sees one:
    make itself is called by its full path, and the recipe runs .venv/bin/python by its own.
    """
    empty = tmp_path / "bin"
    empty.mkdir()
    return {"PATH": str(empty), "COMPOSE_PROJECT_NAME": TEST_PROJECT}


@pytest.fixture
def server_ports_free() -> None:
    """Skip when a server port is taken (then make up rightly refuses before the engine)."""
    taken = {port: holder for port in SERVER_PORTS.values() if (holder := port_holder(port))}
    if taken:
        pytest.skip(f"ports already taken on this host: {taken}")


def test_profiles_select_the_files_services() -> None:
    services = load_services()
    assert select(services, []) == ["flask", "fastapi"]
    assert len(select(services, ["all"])) == 9
    assert {"flask", "fastapi", "locust-master", "locust-worker"} == set(select(services, ["load"]))
    with pytest.raises(BadInput, match=r"unknown profile 'nope'.*'all', 'load'"):
        select(services, ["all", "nope"])


def test_unknown_profile_is_refused_in_one_line_before_the_engine(
    no_engine_path: dict[str, str],
) -> None:
    result = make("up", "PROFILE=nope", env=no_engine_path)
    assert result.returncode != 0
    # The engine is never looked for: without one, its own message would come instead.
    (line,) = own_lines(result)
    assert "unknown profile 'nope'" in line
    assert "'all', 'load'" in line
    assert not (state_folder(TEST_PROJECT) / "state.json").exists()


def test_taken_port_is_refused_in_one_line_before_the_engine(
    no_engine_path: dict[str, str],
) -> None:
    with socket.socket() as holder:
        try:
            holder.bind(("127.0.0.1", SERVER_PORTS["flask"]))
            holder.listen()
        except OSError:
            pass  # already taken by something else: make up must refuse all the same
        result = make("up", env=no_engine_path)
    assert result.returncode != 0
    (line,) = own_lines(result)
    assert f"host port {SERVER_PORTS['flask']} (of flask) is already taken" in line
    assert "nothing was started" in line
    assert not (state_folder(TEST_PROJECT) / "state.json").exists()


def test_port_holder_names_the_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_holder(port) == f"{psutil.Process().name()} (PID {os.getpid()})"
    assert port_holder(port) is None


@pytest.mark.usefixtures("server_ports_free")
def test_no_engine_is_one_line_and_a_non_zero_exit(no_engine_path: dict[str, str]) -> None:
    result = make("up", env=no_engine_path)
    assert result.returncode != 0
    (line,) = own_lines(result)
    assert line.startswith("make up: no container engine:")
    assert "docker info" in line
    assert "podman" in line
    assert "install Docker Engine" in line
    assert "Traceback" not in result.stderr


def test_make_down_without_an_engine_says_nothing_is_up(no_engine_path: dict[str, str]) -> None:
    result = make("down", env=no_engine_path)
    assert result.returncode == 0
    assert own_lines(result) == [
        f"make down: nothing is up (no container of project {TEST_PROJECT!r})"
    ]


def test_project_name_is_composes() -> None:
    assert project_name({"COMPOSE_PROJECT_NAME": "mine"}, Path("/x/y")) == "mine"
    assert project_name({}, Path("/src/Flask-vs-FastAPI.git")) == "flask-vs-fastapigit"
    with pytest.raises(BadInput, match="COMPOSE_PROJECT_NAME"):
        project_name({}, Path("/src/..."))


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Start a process whose command line names a socket, as podman's service does."""
    sock = tmp_path / "podman.sock"
    argv = [sys.executable, "-c", "import time; time.sleep(120)", f"unix://{sock}"]
    proc = subprocess.Popen(argv)
    try:
        yield proc, sock
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_service_is_stopped_only_if_pid_start_time_and_socket_match(
    sleeper: tuple[subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    proc, sock = sleeper
    started = psutil.Process(proc.pid).create_time()
    for other in [
        Service(proc.pid, started + 1, sock),  # the PID reused by a later process
        Service(proc.pid, started, tmp_path / "other.sock"),  # another service's
    ]:
        assert not other.alive()
        assert not other.stop()
    assert proc.poll() is None
    # The state file make up writes names it, and what make down reads back stops it.
    recorded = State(
        project="p", engine="podman", api_pid=proc.pid, api_started=started, api_socket=sock
    )
    write_state(tmp_path / "state", recorded)
    state = read_state(tmp_path / "state")
    assert state is not None
    service = state.api()
    assert service == Service(proc.pid, started, sock)
    assert service.alive()
    assert service.stop()
    assert proc.wait(timeout=30) is not None
    assert not service.alive()


# --- for real ---------------------------------------------------------------------------


def api_services(project: str) -> list[int]:
    """Return the PIDs of podman API services serving this project's socket."""
    sock = f"unix://{state_folder(project) / 'podman.sock'}"
    return [
        proc.pid
        for proc in psutil.process_iter(["cmdline", "status"])
        if sock in (proc.info["cmdline"] or []) and proc.info["status"] != psutil.STATUS_ZOMBIE
    ]


def answers(port: int) -> bool:
    """Return whether anything accepts a connection on 127.0.0.1:port."""
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("FVF_COMPOSE_TEST") != "1",
    reason="builds and runs containers: `make compose-test` (FVF_COMPOSE_TEST=1)",
)
def test_make_up_twice_then_make_down_leaves_nothing() -> None:
    taken = {port: holder for port in SERVER_PORTS.values() if (holder := port_holder(port))}
    if taken:
        pytest.fail(f"ports already taken: {taken}; is a `make up` running? (`make down`)")
    env = {"COMPOSE_PROJECT_NAME": TEST_PROJECT}
    try:
        first = make("up", env=env)
        print(first.stderr, flush=True)
        assert first.returncode == 0, first.stdout + first.stderr
        for port in SERVER_PORTS.values():
            assert f"POST http://127.0.0.1:{port}/predict" in first.stdout
            assert f"http://127.0.0.1:{port}/docs" in first.stdout
            assert f"http://127.0.0.1:{port}/health" in first.stdout
        assert "make down" in first.stdout

        kind = engine_kind()
        assert kind is not None
        engine = cli_engine(kind)
        up = containers(engine, TEST_PROJECT)
        assert sorted(service for service, running in up.values() if running) == sorted(
            SERVER_PORTS
        )
        apis = api_services(TEST_PROJECT)
        # Podman's API service outlives make up; with Docker's engine there is none.
        assert len(apis) == (1 if kind == "podman" else 0)

        body = json.dumps(EXAMPLE).encode()
        replies = [
            post(port, body, {"Content-Type": "application/json"}) for port in SERVER_PORTS.values()
        ]
        assert replies[0][0] == 200
        assert replies[0] == replies[1]

        again = make("up", env=env)
        print(again.stderr, flush=True)
        assert again.returncode == 0, again.stdout + again.stderr
        assert containers(engine, TEST_PROJECT) == up  # the same containers: no second copy
        assert api_services(TEST_PROJECT) == apis
    finally:
        down = make("down", env=env)
        print(down.stderr, flush=True)
    assert down.returncode == 0, down.stdout + down.stderr
    assert containers(engine, TEST_PROJECT) == {}
    deadline = time.monotonic() + 10  # the published ports close as the containers go
    while any(answers(port) for port in SERVER_PORTS.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [port for port in SERVER_PORTS.values() if answers(port)] == []
    assert api_services(TEST_PROJECT) == []
    assert not state_folder(TEST_PROJECT).exists()

    nothing = make("down", env=env)
    assert nothing.returncode == 0
    assert "nothing is up" in nothing.stderr
