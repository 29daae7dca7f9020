"""The container engine for the compose test: Docker's if one answers, else podman.

Podman is installed from Debian when missing and driven through its Docker-compatible
API (``podman system service`` on a socket of our own), so the same Compose CLI runs the
same docker-compose.yml on both. Podman reads only ``compose/containers.conf`` (through
``CONTAINERS_CONF``): nothing under /etc and nothing of a user's own setup changes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from compose._run import StepError, run, say, sudo

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
PODMAN_PACKAGES = ("podman", "catatonit", "debootstrap")
SERVICE_START_S = 30.0


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


def compose_cli(env: dict[str, str]) -> list[str]:
    """Return the Compose CLI: Docker's v2 plugin if present, else docker-compose (v1)."""
    if (
        shutil.which("docker")
        and run(["docker", "compose", "version"], env=env, check=False).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise StepError("no Compose CLI: `make system-deps` installs Debian's docker-compose")


def install_podman() -> list[str]:
    """Install the Debian packages podman needs here; return those that were missing."""
    missing = [
        name for name in PODMAN_PACKAGES if run(["dpkg", "-s", name], check=False).returncode != 0
    ]
    if missing:
        say(f"no Docker engine answers: installing {' '.join(missing)} from Debian")
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


@contextmanager
def podman_service(env: dict[str, str]) -> Iterator[Path]:
    """Serve podman's Docker-compatible API on a socket of our own; stop it by PID after."""
    folder = Path(tempfile.mkdtemp(prefix="flask-vs-fastapi-podman-"))
    sock = folder / "podman.sock"
    log = (folder / "service.log").open("wb")
    # Own session: a Ctrl-C meant for the test must not stop the API before `compose down`.
    proc = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + SERVICE_START_S
        while not (sock.exists() and _ping(sock)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise StepError(
                    f"`podman system service` did not answer on {sock}:\n"
                    + (folder / "service.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.2)
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def engine(notes: list[str]) -> Iterator[Engine]:
    """Yield Docker's engine if it answers, else podman's API (installed if needed)."""
    if docker_answers():
        notes.append("Docker engine")
        env = dict(os.environ)
        yield Engine("docker", {}, compose_cli(env))
        return
    missing = install_podman()
    if missing:
        notes.append(f"installed {' '.join(missing)}")
    podman_env = {"CONTAINERS_CONF": str(CONTAINERS_CONF)}
    with podman_service({**os.environ, **podman_env}) as sock:
        version = run(["podman", "--version"], env=podman_env).stdout.strip()
        notes.append(f"no Docker engine: {version} API on {sock}")
        # DOCKER_HOST points the Compose CLI (and `docker`) at podman's API.
        env = {**podman_env, "DOCKER_HOST": f"unix://{sock}"}
        yield Engine("podman", env, compose_cli({**os.environ, **env}))
