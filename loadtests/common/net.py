"""Loopback networking helpers: the address check, the health probe, polling until ready.

One copy of each, used by the bench runner, the robustness runs and the tests. Load only
ever goes to loopback unless a user says otherwise (``--allow-remote``).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

HEALTH_TIMEOUT_S = 2.0


def is_loopback(host: str) -> bool:
    """Tell whether host is localhost or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_literal(url: str) -> bool:
    """Tell whether url names its host by IP address or as localhost (no DNS lookup)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def loopback(base_url: str) -> tuple[str, int]:
    """Return host and port of base_url, refusing anything but a loopback address."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if not is_loopback(host):
        raise ValueError(f"load only ever goes to loopback, not {host!r}")
    return host, parts.port or 80


def status_ok(url: str, timeout: float = HEALTH_TIMEOUT_S) -> bool:
    """Tell whether GET url answers 200 with exactly {"status": "ok"} right now."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        return response.status == 200 and json.loads(response.read()) == {"status": "ok"}
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        conn.close()


def health_ok(base_url: str, timeout: float = HEALTH_TIMEOUT_S) -> bool:
    """Tell whether GET <base_url>/health answers 200 {"status": "ok"} right now."""
    return status_ok(f"{base_url.rstrip('/')}/health", timeout)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll condition every interval until it holds (True) or timeout passes (False).

    An exception raised by condition counts as "not yet": a server that is restarting
    refuses connections for a moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if condition():
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def settle(
    base_url: str, *, quick_ms: float = 20.0, streak: int = 3, timeout: float = 10.0
) -> bool:
    """Wait until /health answers within quick_ms ``streak`` times in a row: a server that
    was overloaded has worked off its queue, so the next phase does not measure it."""
    run = 0

    def quick() -> bool:
        nonlocal run
        start = time.perf_counter()
        ok = health_ok(base_url, timeout=1.0) and (time.perf_counter() - start) * 1000 < quick_ms
        run = run + 1 if ok else 0
        return run >= streak

    return wait_until(quick, timeout, interval=0.02)
