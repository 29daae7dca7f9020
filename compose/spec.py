"""docker-compose.yml as data: services, profiles, published ports, the project's name.

Nothing here needs a container engine: ``make up`` checks what it was asked for (a profile
the file defines, host ports that are free) before it starts anything, and the compose
test and tests/test_compose.py read the same file through the same functions.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil
import yaml

from compose._run import StepError

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"

_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)(?::-([^}]*))?\})")


class BadInput(StepError):
    """What make up was asked for cannot be started; nothing was."""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Substitute ${NAME}, ${NAME:-default} and $$ through value, as Compose does."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: "$" if m[1] else env.get(m[2]) or m[3] or "", value)
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    return value


def load_services(env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Return the services of docker-compose.yml, interpolated with env (default: none set)."""
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return interpolate(services, env or {})


def published_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """Return (host port, container port) of each port a service publishes."""
    pairs = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.append((int(port["published"]), int(port["target"])))
        else:
            *_, host, container = str(port).split(":")
            pairs.append((int(host), int(container)))
    return pairs


def profiles(services: Mapping[str, dict[str, Any]]) -> list[str]:
    """Return the profile names the file defines, sorted."""
    return sorted({name for spec in services.values() for name in spec.get("profiles", [])})


def select(services: Mapping[str, dict[str, Any]], wanted: Iterable[str]) -> list[str]:
    """Return the services Compose starts under the wanted profiles, in the file's order."""
    wanted = list(wanted)
    known = profiles(services)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise BadInput(
            f"unknown profile {', '.join(map(repr, unknown))}: docker-compose.yml defines "
            f"{', '.join(map(repr, known))} (and starts its other services without one)"
        )
    return [
        name
        for name, spec in services.items()
        if not spec.get("profiles") or set(spec["profiles"]) & set(wanted)
    ]


def project_name(env: Mapping[str, str] | None = None, folder: Path = ROOT) -> str:
    """Return the project name Compose gives this checkout (a user's `docker compose ps` here)."""
    # COMPOSE_PROJECT_NAME, else the folder's name, normalised as Compose v1 and v2 both do.
    env = os.environ if env is None else env
    raw = env.get("COMPOSE_PROJECT_NAME") or folder.name
    name = re.sub(r"[^a-z0-9_-]", "", raw.lower()).lstrip("-_")
    if not name:
        raise BadInput(f"cannot make a Compose project name of {raw!r}: set COMPOSE_PROJECT_NAME")
    return name


def port_holder(port: int) -> str | None:
    """Return what holds host port (a process, when one is seen), or None when it is free.

    Binding the wildcard address is what Docker's and podman's port publishing must do, so
    a listener on any of the host's addresses counts; SO_REUSEADDR keeps connections still
    in TIME_WAIT (a stack just taken down) from counting.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        else:
            return None
    try:
        listeners = [
            conn.pid
            for conn in psutil.net_connections("inet")
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        ]
        pid = next(pid for pid in listeners if pid)
        return f"{psutil.Process(pid).name()} (PID {pid})"
    except (psutil.Error, StopIteration):
        return "another program"


def check_ports(services: Mapping[str, dict[str, Any]], names: Iterable[str]) -> None:
    """Raise BadInput naming the first host port of names' services that is already taken."""
    for name in names:
        for host, _ in published_ports(services[name]):
            holder = port_holder(host)
            if holder is not None:
                raise BadInput(
                    f"host port {host} (of {name}) is already taken by {holder}; nothing was "
                    "started"
                )
