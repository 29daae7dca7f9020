"""The container engine for the compose test and ``make up``: Docker's if one answers, else podman.

Podman is installed from Debian when missing and driven through its Docker-compatible
API (``podman system service`` on a socket of our own), so the same Compose CLI runs the
same docker-compose.yml on both. Podman reads only ``compose/containers.conf`` (through
``CONTAINERS_CONF``): nothing under /etc and nothing of a user's own setup changes. The
compose test's API service lives as long as the test; ``make up``'s outlives it, and
``make down`` stops it by the PID and start time it was recorded with.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from compose._run import StepError, run, say, sudo

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
PODMAN_PACKAGES = ("podman", "catatonit", "debootstrap")
SERVICE_START_S = 30.0
SERVICE_STOP_S = 15.0
NO_ENGINE = (
    "no container engine: no Docker engine answered `docker info`, and podman {why}; install "
    "Docker Engine with its Compose plugin, or podman (Debian: apt-get install podman catatonit)"
)


class NoEngine(StepError):
    """Neither engine answers, and podman cannot be installed here."""


@dataclass
class Engine:
    """How to reach one engine: its CLI, the environment of every call, the Compose CLI."""

    cli: str  # "docker" or "podman"
    env: dict[str, str] = field(default_factory=dict)
    compose: list[str] = field(default_factory=list)

    @property
    def is_podman(self) -> bool:
        """Return whether health checks must be driven by hand (podman runs no timer here)."""
        return self.cli == "podman"

    def __call__(self, *args: str | Path, timeout: float = 300, check: bool = True) -> str:
        """Run the engine's CLI with args and return its standard output."""
        return run([self.cli, *args], env=self.env, timeout=timeout, check=check).stdout

    def health(self, container: str) -> str:
        """Return a container's health status ("starting", "healthy", "unhealthy", "")."""
        out = self("inspect", "--format", "{{json .State.Health}}", container, check=False)
        try:
            state = json.loads(out or "null")
        except ValueError:
            return ""
        return str(state.get("Status", "")) if isinstance(state, dict) else ""


def docker_answers() -> bool:
    """Return whether a Docker engine answers (`docker info` succeeds)."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def engine_kind() -> str | None:
    """Return "docker" if its engine answers, else "podman" if installed, else None."""
    if docker_answers():
        return "docker"
    return "podman" if shutil.which("podman") else None


def compose_cli(env: dict[str, str]) -> list[str]:
    """Return the Compose CLI: Docker's v2 plugin if present, else docker-compose (v1)."""
    if (
        shutil.which("docker")
        and run(["docker", "compose", "version"], env=env, check=False).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("apt-get") and shutil.which("dpkg"):
        install_debian(["docker-compose"], "no Compose CLI")
        return ["docker-compose"]
    raise StepError("no Compose CLI: install Docker's Compose plugin, or docker-compose")


def ensure_podman(notes: list[str]) -> None:
    """Make podman usable: install its Debian packages where missing, or raise NoEngine."""
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        if shutil.which("podman"):
            return  # not Debian: the podman found is used as it is
        raise NoEngine(NO_ENGINE.format(why="is not installed, nor can it be here (no apt-get)"))
    try:
        missing = install_podman()
    except StepError as exc:
        reason = str(exc).splitlines()[0]
        raise NoEngine(NO_ENGINE.format(why=f"could not be installed ({reason})")) from exc
    if missing:
        notes.append(f"installed {' '.join(missing)}")


def install_podman() -> list[str]:
    """Install the Debian packages podman needs here; return those that were missing."""
    return install_debian(PODMAN_PACKAGES, "no Docker engine answers")


def install_debian(packages: Sequence[str], why: str) -> list[str]:
    """Install those of packages that Debian lacks, saying why; return them."""
    missing = [name for name in packages if run(["dpkg", "-s", name], check=False).returncode != 0]
    if missing:
        say(f"{why}: installing {' '.join(missing)} from Debian")
        run([*sudo(), "apt-get", "update", "-qq"], timeout=600)
        run(
            [
                *sudo(),
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-qq",
                *missing,
            ],
            timeout=900,
        )
    return missing


def _ping(path: Path) -> bool:
    """Return whether the API on the unix socket at path answers /_ping."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
            return status_line.startswith(b"HTTP/1.") and b" 200" in status_line
    except OSError:
        return False


@dataclass(frozen=True)
class Service:
    """A running ``podman system service``: the PID, start time and socket that name it."""

    pid: int
    started: float  # psutil's create_time: a PID reused by another process does not match
    socket: Path

    def alive(self) -> bool:
        """Return whether this very process still runs (same PID, start time and socket)."""
        try:
            proc = psutil.Process(self.pid)
            return (
                proc.create_time() == self.started
                and f"unix://{self.socket}" in proc.cmdline()
                and proc.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False

    def stop(self) -> bool:
        """Stop the process by its PID if it is still this service; return whether it ran."""
        if not self.alive():
            return False
        proc = psutil.Process(self.pid)
        proc.terminate()
        if not _ended(proc, SERVICE_STOP_S):
            proc.kill()
            _ended(proc, SERVICE_STOP_S)
        return True


def _ended(proc: psutil.Process, timeout: float) -> bool:
    """Wait until proc has exited; return whether it did within timeout."""
    # Not psutil's wait(): the service outlives make up, so the process that reaps it may be
    # an init that never does, and a zombie would count as running until the timeout.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def podman_env() -> dict[str, str]:
    """Return the environment every podman call gets: our containers.conf only."""
    return {"CONTAINERS_CONF": str(CONTAINERS_CONF)}


def start_podman_service(folder: Path) -> tuple[subprocess.Popen[bytes], Service]:
    """Serve podman's Docker-compatible API on folder/podman.sock until stopped by its PID."""
    sock = folder / "podman.sock"
    sock.unlink(missing_ok=True)
    log_path = folder / "service.log"
    # Own session: a Ctrl-C meant for make (or the test) must not stop the API under the
    # containers; it is stopped by PID instead (Service.stop).
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{sock}"],
            env={**os.environ, **podman_env()},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service = Service(proc.pid, psutil.Process(proc.pid).create_time(), sock)
    deadline = time.monotonic() + SERVICE_START_S
    while not (sock.exists() and _ping(sock)):
        if proc.poll() is not None or time.monotonic() > deadline:
            service.stop()
            proc.wait(SERVICE_STOP_S)
            raise StepError(
                f"`podman system service` did not answer on {sock}:\n"
                + log_path.read_text(errors="replace")[-2000:]
            )
        time.sleep(0.2)
    return proc, service


def podman_engine(sock: Path, notes: list[str]) -> Engine:
    """Return podman reached through its API on sock, for the Compose CLI and podman's own."""
    version = run(["podman", "--version"], env=podman_env()).stdout.strip()
    notes.append(f"no Docker engine: {version} API on {sock}")
    # DOCKER_HOST points the Compose CLI (and `docker`) at podman's API.
    env = {**podman_env(), "DOCKER_HOST": f"unix://{sock}"}
    return Engine("podman", env, compose_cli({**os.environ, **env}))


def docker_engine(notes: list[str]) -> Engine:
    """Return Docker's engine, as the environment already reaches it."""
    notes.append("Docker engine")
    return Engine("docker", {}, compose_cli(dict(os.environ)))


@contextmanager
def podman_service() -> Iterator[Path]:
    """Serve podman's Docker-compatible API on a socket of our own; stop it by PID after."""
    folder = Path(tempfile.mkdtemp(prefix="flask-vs-fastapi-podman-"))
    proc, service = start_podman_service(folder)
    try:
        yield service.socket
    finally:
        service.stop()
        proc.wait(SERVICE_STOP_S)  # reaped already: this only tells Popen so
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def engine(notes: list[str]) -> Iterator[Engine]:
    """Yield Docker's engine if it answers, else podman's API (installed if needed)."""
    if docker_answers():
        yield docker_engine(notes)
        return
    ensure_podman(notes)
    with podman_service() as sock:
        yield podman_engine(sock, notes)
