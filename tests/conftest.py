"""Shared fixtures: the trained model, settings, and one client per frontend."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from loadtests.report.render import CHROMIUM as CHROMIUM_PATH
from loadtests.report.render import CHROMIUM_ARGS
from shared_model import METADATA_FILE, Settings
from shared_model._settings import DEFAULT_MODEL_DIR

FRONTENDS = ("flask", "fastapi")  # the two validated frontends, each under its default server

# A shell that starts pytest in the background without job control hands it SIGINT
# ignored, and every process it starts inherits that: the Ctrl-C tests would then see
# their runs ignore Ctrl-C. Taking SIGINT back here gives every child the default again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder of the trained model: models/ if trained, else a small fresh one."""
    if (DEFAULT_MODEL_DIR / METADATA_FILE).exists():
        return DEFAULT_MODEL_DIR
    from shared_model.train import main

    out = tmp_path_factory.mktemp("models")
    assert main(["--rows", "6000", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def settings(model_dir: Path) -> Settings:
    """Return settings pointing at the trained model, ONNX backend."""
    return Settings(model_dir=model_dir)


def make_client(frontend: str, settings: Settings) -> httpx.Client:
    """Return an in-process httpx client for one frontend (both give httpx.Response)."""
    if frontend == "flask":
        from flask_app import create_app as create_flask

        transport = httpx.WSGITransport(app=create_flask(settings), raise_app_exceptions=False)
        return httpx.Client(transport=transport, base_url="http://testserver")
    from fastapi_app import create_app as create_fastapi

    return httpx.Client(
        transport=SyncASGITransport(create_fastapi(settings)), base_url="http://testserver"
    )


class SyncASGITransport(httpx.BaseTransport):
    """httpx's ASGITransport behind a synchronous client, run in an anyio portal thread.

    Starlette's TestClient would do the same but is deprecated with httpx; this keeps
    both frontends on httpx's own transports (WSGITransport and ASGITransport).
    """

    def __init__(self, app: object) -> None:
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
        self._stack = ExitStack()
        self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request through the ASGI app and return the fully read response."""

        body = request.read()

        async def send() -> httpx.Response:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._inner.handle_async_request(inner)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(send)

    def close(self) -> None:
        """Stop the portal thread."""
        self._stack.close()


@pytest.fixture(params=FRONTENDS)
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[httpx.Client]:
    """Yield a client of each validated frontend in turn."""
    with make_client(request.param, settings) as c:
        yield c


@contextmanager
def serve(target_name: str, model_dir: Path, **env: str) -> Iterator[str]:
    """Start a target of the table with its exact command; yield its URL; stop it by PID."""
    from loadtests.common.servers import launch
    from loadtests.targets import get_target

    proc, url = launch(get_target(target_name), env={"FVF_MODEL_DIR": str(model_dir), **env})
    try:
        yield url
    finally:
        proc.stop()


CHROMIUM = Path(CHROMIUM_PATH)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Yield a headless Chromium (Debian's, no browser download)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: run `make system-deps`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
