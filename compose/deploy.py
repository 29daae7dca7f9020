"""``make up`` and ``make down``: docker-compose.yml's servers left running, on Docker or podman.

    python -m compose.deploy up [--profile all]    # make up [PROFILE=all]
    python -m compose.deploy down                  # make down

``up`` first checks what it was asked for (profiles the file defines, host ports free unless
this project already holds them) and starts nothing if that fails. Then it finds the engine
as the compose test does (compose.engine: Docker's if ``docker info`` answers, else podman
through its Docker-compatible API), provides the base image (compose.base), builds, starts
the services, waits until the Compose file's own health checks pass and prints their URLs.
Podman's API service outlives the command: its PID, start time and socket go to a state file
in the user's runtime folder, so ``down`` takes the stack down on the same engine and stops
that service by its PID, and a second ``up`` reuses it. The project name is the one a user's
own Compose gives this checkout (COMPOSE_PROJECT_NAME, else the folder's name).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from compose._run import StepError, Timings, interrupt_on_sigterm, say, set_prefix
from compose.base import ensure_base
from compose.engine import (
    Engine,
    Service,
    docker_engine,
    engine_kind,
    ensure_podman,
    podman_engine,
    podman_env,
    podman_service,
    start_podman_service,
)
from compose.project import Compose, build_image, containers, wait_healthy
from compose.spec import (
    COMPOSE_FILE,
    BadInput,
    check_ports,
    load_services,
    profiles,
    project_name,
    published_ports,
    select,
)
from loadtests.targets import TARGETS

RUNTIME_NAME = "flask-vs-fastapi"
URL_HOST = "127.0.0.1"
STOP_TIMEOUT_S = "10"


class State(BaseModel):
    """What ``make up`` started, for ``make down`` and the next ``make up`` (state.json)."""

    project: str
    engine: Literal["docker", "podman"]
    api_pid: int | None = None  # podman's API service, when make up started one
    api_started: float | None = None
    api_socket: Path | None = None

    def api(self) -> Service | None:
        """Return the recorded podman API service, if any (alive or not)."""
        if self.api_pid is None or self.api_started is None or self.api_socket is None:
            return None
        return Service(self.api_pid, self.api_started, self.api_socket)


def state_folder(project: str) -> Path:
    """Return the project's folder for the state file and podman's socket.

    A runtime folder, emptied at boot as the API service it names is ended by one.
    """
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(runtime) / RUNTIME_NAME / project
    if os.geteuid() == 0:
        return Path("/run") / RUNTIME_NAME / project
    return Path(tempfile.gettempdir()) / f"{RUNTIME_NAME}-{os.geteuid()}" / project


def read_state(folder: Path) -> State | None:
    """Return the state make up left in folder, or None."""
    path = folder / "state.json"
    return State.model_validate_json(path.read_text()) if path.exists() else None


def write_state(folder: Path, state: State) -> None:
    """Write the state file (readable by its owner only, as the folder is)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / "state.json").write_text(state.model_dump_json(indent=2) + "\n")


def forget(folder: Path) -> None:
    """Remove the project's state folder, and the runtime folder of ours if left empty."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # another project's folder is still in it
        folder.parent.rmdir()


def cli_engine(kind: str) -> Engine:
    """Return an engine's own CLI, without a Compose CLI or podman's API (for looking)."""
    return Engine(kind, podman_env() if kind == "podman" else {})


def running(kind: str | None, project: str) -> set[str]:
    """Return the services of the project with a running container (none without an engine)."""
    if kind is None:
        return set()
    return {service for service, up in containers(cli_engine(kind), project).values() if up}


def connect(
    kind: str | None, state: State | None, folder: Path, notes: list[str]
) -> tuple[Engine, Service | None]:
    """Return the engine and podman's API service (the recorded one if alive, else a new one)."""
    if kind == "docker":
        return docker_engine(notes), None
    recorded = state.api() if state else None
    if recorded is not None and recorded.alive():
        notes.append(f"podman's API service already running (PID {recorded.pid})")
        return podman_engine(recorded.socket, notes), recorded
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _, service = start_podman_service(folder)
    notes.append(f"started podman's API service (PID {service.pid})")
    try:
        return podman_engine(service.socket, notes), service
    except BaseException:  # not yet in the state file: nothing else would ever stop it
        service.stop()
        raise


def profile_flags(names: Iterable[str]) -> list[str]:
    """Return --profile NAME for each name (Compose v1 1.28+ and v2 alike)."""
    return [arg for name in names for arg in ("--profile", name)]


def scale_flags(services: dict[str, dict[str, Any]], names: Iterable[str]) -> list[str]:
    """Return --scale for services with deploy.replicas (v1 reads only the flag)."""
    return [
        arg
        for name in names
        if (replicas := services[name].get("deploy", {}).get("replicas")) is not None
        for arg in ("--scale", f"{name}={replicas}")
    ]


def compose_env() -> dict[str, str]:
    """Return the knobs the Compose file reads that make up sets when the user did not."""
    return {
        "FVF_UID": os.environ.get("FVF_UID", str(os.getuid())),  # owner of Locust's CSVs
        "FVF_GID": os.environ.get("FVF_GID", str(os.getgid())),
    }


def up(wanted: list[str], timings: Timings) -> None:
    """Start the services of the wanted profiles, wait until healthy, leave them running."""
    services = load_services(os.environ)
    chosen = select(services, wanted)
    project = project_name()
    folder = state_folder(project)
    state = read_state(folder)
    kind = state.engine if state else engine_kind()
    before = running(kind, project)
    check_ports(services, [name for name in chosen if name not in before])
    installed: list[str] = []
    if kind != "docker":
        ensure_podman(installed)  # NoEngine (one line) when podman is neither here nor installable
    # Everything asked for can start: from here on, things are started.
    with timings.step("engine") as notes:
        notes += installed
        eng, api = connect(kind, state, folder, notes)
    new_state = State(project=project, engine="docker" if eng.cli == "docker" else "podman")
    if api is not None:
        new_state = new_state.model_copy(
            update={"api_pid": api.pid, "api_started": api.started, "api_socket": api.socket}
        )
    write_state(folder, new_state)  # before containers start: make down must find the service
    compose = Compose(eng, project, [COMPOSE_FILE], compose_env(), folder / "compose.log")
    flags = profile_flags(wanted)
    checked = [name for name in chosen if "healthcheck" in services[name]]
    rest = [name for name in chosen if name not in checked]
    try:
        with timings.step("base") as notes:
            ensure_base(eng, notes)
        with timings.step("build") as notes:
            build_image(eng, notes)
        with timings.step("up") as notes:
            compose(*flags, "up", "-d", "--no-build", *checked)
            notes.append(
                f"{', '.join(checked)}; already running: {', '.join(sorted(before)) or 'none'}"
            )
        with timings.step("healthy") as notes:
            wait_healthy(compose, checked, notes)
        if rest:  # e.g. Locust, which waits for healthy servers (podman: checked by hand above)
            with timings.step("rest") as notes:
                compose(*flags, "up", "-d", "--no-build", *scale_flags(services, rest), *rest)
                notes.append(", ".join(rest))
    except BaseException:
        _take_back(compose, flags, [n for n in chosen if n not in before], before, api)
        if not before:
            forget(folder)
        raise
    _print_urls(services, chosen, eng, project, new_state)


def _take_back(
    compose: Compose,
    flags: list[str],
    added: list[str],
    before: set[str],
    api: Service | None,
) -> None:
    """Undo a failed make up: everything if nothing ran before it, else what it added."""
    try:
        if not before:
            compose(*flags, "down", "--remove-orphans", "--timeout", STOP_TIMEOUT_S)
        elif added:
            compose(*flags, "rm", "--stop", "--force", *added)
    except StepError as exc:
        say(f"could not take back what this make up started: {exc}")
    if api is not None and not before:  # nothing of the project runs: nothing needs the API
        api.stop()


def _print_urls(
    services: dict[str, dict[str, Any]], chosen: list[str], eng: Engine, project: str, state: State
) -> None:
    """Print each server's URLs, how to stop everything and how to reach the stack by hand."""
    for name in chosen:
        for host, _ in published_ports(services[name]):
            base = f"http://{URL_HOST}:{host}"
            # The project's offline docs pages are served by the validated frontends only.
            has_docs = name in TARGETS and TARGETS[name].handler != "seed"
            pages = [f"POST {base}/predict", *([f"{base}/docs"] if has_docs else [])]
            print(f"{name:<16} {'   '.join([*pages, f'{base}/health'])}")
    others = [name for name in chosen if not published_ports(services[name])]
    if others:
        print(f"{', '.join(others)}: started (no port; Locust writes its CSVs to results/)")
    named = os.environ.get("COMPOSE_PROJECT_NAME")
    stop = f"COMPOSE_PROJECT_NAME={shlex.quote(named)} make down" if named else "make down"
    what = f"the containers of project {project!r}"
    if state.api_pid is not None:
        what += f" and podman's API service (PID {state.api_pid})"
    print(f"Stop everything: {stop}  ({what})")
    reach = f"DOCKER_HOST=unix://{state.api_socket} " if state.api_socket else ""
    print(f"Compose by hand: {reach}{shlex.join(eng.compose)} -p {project} ps")


def down(timings: Timings) -> None:
    """Stop and remove the project's containers on make up's engine, and its API service."""
    project = project_name()
    folder = state_folder(project)
    state = read_state(folder)
    kind = state.engine if state else engine_kind()
    recorded = state.api() if state else None
    live = recorded if recorded is not None and recorded.alive() else None
    found = containers(cli_engine(kind), project) if kind else {}
    if not found:
        stopped = live.stop() if live else False
        forget(folder)
        tail = f"; stopped podman's API service (PID {live.pid})" if live and stopped else ""
        say(f"nothing is up (no container of project {project!r}){tail}")
        return
    assert kind is not None  # containers were found through it
    with ExitStack() as stack:
        with timings.step("engine") as notes:
            if kind == "docker":
                eng = docker_engine(notes)
            elif live is not None:
                eng = podman_engine(live.socket, notes)
            else:  # make up's service is gone (or was never recorded): one for this command
                eng = podman_engine(stack.enter_context(podman_service()), notes)
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "compose.log"
        compose = Compose(eng, project, [COMPOSE_FILE], compose_env(), logs)
        every = profile_flags(profiles(load_services()))
        with timings.step("down") as notes:
            compose(*every, "down", "--remove-orphans", "--timeout", STOP_TIMEOUT_S)
            left = containers(cli_engine(kind), project)
            if left:
                raise StepError(f"still there after `compose down`: {sorted(left)}")
            names = sorted({service for service, _ in found.values()})
            notes.append(f"removed {len(found)} containers ({', '.join(names)})")
        if live is not None:
            live.stop()
            say(f"stopped podman's API service (PID {live.pid})")
    forget(folder)


def main(argv: list[str] | None = None) -> int:
    """Run make up or make down from the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m compose.deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="build if needed, start, wait until healthy")
    up_parser.add_argument(
        "--profile",
        action="append",
        default=[],
        help="a profile of docker-compose.yml (all, load); repeat it, or separate by commas",
    )
    commands.add_parser("down", help="stop and remove what up started")
    args = parser.parse_args(argv)
    set_prefix(f"make {args.command}:")
    interrupt_on_sigterm()
    timings = Timings()
    try:
        if args.command == "up":
            up([name for arg in args.profile for name in re.split(r"[,\s]+", arg) if name], timings)
        else:
            down(timings)
    except BadInput as exc:
        say(str(exc))
        return 2
    except StepError as exc:
        say(str(exc))
        return 1
    except KeyboardInterrupt:
        say(
            "interrupted: what it had started was taken back"
            if args.command == "up"
            else "interrupted: run make down again"
        )
        return 130
    if timings.steps:
        say(timings.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
