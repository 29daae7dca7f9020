"""One Compose project on an engine: the Compose CLI, its containers, health, the image.

Shared by the compose test (compose.stack, project ``fvf-compose-test``) and by
``make up``/``make down`` (compose.deploy, the project name a user's Compose gives).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from compose._run import StepError, run
from compose.engine import Engine
from compose.spec import COMPOSE_FILE, ROOT

HEALTHY_WITHIN_S = 120.0
PROJECT_LABEL = "com.docker.compose.project"  # set by Compose v1 and v2 on every container
SERVICE_LABEL = "com.docker.compose.service"


class Compose:
    """The Compose CLI on the given files, as one project, on one engine."""

    def __init__(
        self,
        engine: Engine,
        project: str,
        files: Sequence[Path],
        env: dict[str, str],
        logs: Path,
    ) -> None:
        self.engine = engine
        self.project = project
        self.env = {**engine.env, **env}
        self.base: list[str | Path] = [*engine.compose, "-p", project]
        for file in files:
            self.base += ["-f", file]
        self.logs = logs

    def __call__(self, *args: str, timeout: float = 300) -> str:
        """Run one Compose command; its output also goes to the log file."""
        result = run([*self.base, *args], env=self.env, cwd=ROOT, timeout=timeout, check=False)
        with self.logs.open("a") as log:
            log.write(f"$ {shlex.join(args)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip()[-3000:]
            raise StepError(f"compose {shlex.join(args)} exited {result.returncode}:\n{tail}")
        return result.stdout

    def container(self, service: str) -> str:
        """Return the ID of a service's (single) container."""
        ids = self("ps", "-q", service).split()
        if len(ids) != 1:
            raise StepError(f"expected one {service} container, found {len(ids)}")
        return ids[0]

    def service_logs(self, service: str) -> str:
        """Return the last lines a service's container printed (or why they cannot be had)."""
        try:
            return self("logs", "--no-color", "--tail", "40", service, timeout=60)[-3000:]
        except StepError as exc:
            return str(exc)


def containers(engine: Engine, project: str) -> dict[str, tuple[str, bool]]:
    """Return {container ID: (service, running)} for every container of a project.

    Read through the engine's own CLI by Compose's labels, so it needs no Compose CLI and,
    on podman, no API service: ``make up`` and ``make down`` look before they start one.
    """
    ids = engine("ps", "-a", "-q", "--filter", f"label={PROJECT_LABEL}={project}").split()
    if not ids:
        return {}
    fmt = f'{{{{.Id}}}} {{{{index .Config.Labels "{SERVICE_LABEL}"}}}} {{{{.State.Running}}}}'
    found = {}
    for line in engine("inspect", "--format", fmt, *ids).splitlines():
        if line.strip():
            container, service, running = line.split()
            found[container] = (service, running == "true")
    return found


def wait_healthy(compose: Compose, services: Iterable[str], notes: list[str]) -> None:
    """Wait until each service's container is healthy by the Compose file's health check."""
    start = time.monotonic()
    pending = {name: compose.container(name) for name in services}
    while pending:
        for name, container in list(pending.items()):
            if compose.engine.is_podman:
                # No systemd timer runs podman's checks here: run the same check by hand.
                compose.engine("healthcheck", "run", container, check=False, timeout=30)
            status = compose.engine.health(container)
            if status == "healthy":
                notes.append(f"{name} after {time.monotonic() - start:.1f} s")
                del pending[name]
            elif status == "unhealthy":
                raise StepError(f"{name} is unhealthy:\n{compose.service_logs(name)}")
        if pending and time.monotonic() - start > HEALTHY_WITHIN_S:
            status = ", ".join(
                f"{n}: {compose.engine.health(c) or '?'}" for n, c in pending.items()
            )
            raise StepError(f"not healthy within {HEALTHY_WITHIN_S:.0f} s ({status})")
        if pending:
            time.sleep(1)


def build_image(engine: Engine, notes: list[str]) -> None:
    """Build the Compose file's image; remove the build it replaces, if nothing uses it."""
    image = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["flask"]["image"]
    before = engine("image", "inspect", "--format", "{{.Id}}", image, check=False).strip()
    # Host network: the build's pip reaches the package index exactly as the host does.
    engine("build", "--network", "host", "-t", image, ROOT, timeout=900)
    after = engine("image", "inspect", "--format", "{{.Id}}", image).strip()
    notes.append(f"{image} {after.removeprefix('sha256:')[:12]}")
    if before and before != after:
        # Without this every run with changed sources would leave an 800 MB <none> image.
        engine("rmi", before, check=False)
