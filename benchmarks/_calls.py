"""Call an app the way a server does, without a socket: one WSGI call, one ASGI call."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

from werkzeug.test import EnvironBuilder

Asgi = Callable[..., Any]
Wsgi = Callable[..., Any]


def wsgi_environ(method: str, path: str, body: bytes | None) -> dict[str, Any]:
    """Return the WSGI environ of one request, built once per bench."""
    builder = EnvironBuilder(
        path=path, method=method, data=body, content_type="application/json" if body else None
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def wsgi_call(app: Wsgi, environ: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    """Call a WSGI app once with a fresh input stream; return status and body."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> None:
        statuses.append(status)

    result = app({**environ, "wsgi.input": io.BytesIO(body)}, start_response)
    try:
        data = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return int(statuses[0].split()[0]), data


def asgi_scope(method: str, path: str, body: bytes | None) -> dict[str, Any]:
    """Return the ASGI HTTP scope of one request."""
    headers = [(b"host", b"bench")]
    if body is not None:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def asgi_call(
    loop: asyncio.AbstractEventLoop, app: Asgi, scope: dict[str, Any], body: bytes
) -> tuple[int, bytes]:
    """Call an ASGI app once on loop; return status and body."""
    sent: list[dict[str, Any]] = []
    request = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        nonlocal request
        message, request = request, {"type": "http.disconnect"}
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    loop.run_until_complete(app(dict(scope), receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
