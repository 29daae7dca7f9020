"""One request through each framework in-process: a WSGI call (Flask), an ASGI call (FastAPI).

The same example body as over HTTP; the answer is checked against shared_model.predict.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from _calls import asgi_call, asgi_scope, wsgi_call, wsgi_environ

from fastapi_app import create_app as create_fastapi
from flask_app import create_app as create_flask
from flask_app.seed import create_app as create_seed
from shared_model import Settings, predict


@pytest.fixture(scope="module")
def expected(settings: Settings, features: tuple[float, ...]) -> dict[str, object]:
    """Return the answer every frontend must give to the example."""
    return predict(features, settings).as_response()


@pytest.mark.benchmark(group="framework")
@pytest.mark.parametrize("handler", ["validated", "seed"])
def test_flask_request(
    benchmark, settings: Settings, body: bytes, expected: dict[str, object], handler: str
) -> None:
    app = (create_flask if handler == "validated" else create_seed)(settings)
    environ = wsgi_environ("POST", "/predict", body)
    status, answer = benchmark(wsgi_call, app, environ, body)
    assert status == 200
    assert json.loads(answer) == expected


@pytest.mark.benchmark(group="framework")
@pytest.mark.parametrize("handler", ["def", "async"])
def test_fastapi_request(
    benchmark,
    settings: Settings,
    body: bytes,
    expected: dict[str, object],
    event_loop_for_asgi: asyncio.AbstractEventLoop,
    handler: str,
) -> None:
    app = create_fastapi(settings.model_copy(update={"handler": handler}))
    scope = asgi_scope("POST", "/predict", body)
    status, answer = benchmark(asgi_call, event_loop_for_asgi, app, scope, body)
    assert status == 200
    assert json.loads(answer) == expected


@pytest.mark.benchmark(group="framework")
def test_flask_health(benchmark, settings: Settings) -> None:
    environ = wsgi_environ("GET", "/health", None)
    status, answer = benchmark(wsgi_call, create_flask(settings), environ, b"")
    assert (status, json.loads(answer)) == (200, {"status": "ok"})


@pytest.mark.benchmark(group="framework")
def test_fastapi_health(
    benchmark, settings: Settings, event_loop_for_asgi: asyncio.AbstractEventLoop
) -> None:
    scope = asgi_scope("GET", "/health", None)
    status, answer = benchmark(asgi_call, event_loop_for_asgi, create_fastapi(settings), scope, b"")
    assert (status, json.loads(answer)) == (200, {"status": "ok"})
