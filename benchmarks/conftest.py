"""Fixtures of the in-process benches: the trained model, the example, one app per variant.

The benches call the apps the way a server does (a WSGI call, an ASGI call), without a
socket, so that with the HTTP figures they split a request's time into model,
validation, framework, and server plus network.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import uvloop

from shared_model import EXAMPLE, METADATA_FILE, Settings, get_settings, validate_payload


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Return settings pointing at the trained model (FVF_MODEL_DIR, else models/)."""
    model_dir = get_settings().model_dir
    if not (model_dir / METADATA_FILE).exists():
        pytest.skip(f"no trained model in {model_dir}: run `make train` first")
    return Settings(model_dir=model_dir)


@pytest.fixture(scope="session")
def body() -> bytes:
    """Return the example request body, as a client sends it."""
    return json.dumps(EXAMPLE).encode()


@pytest.fixture(scope="session")
def features() -> tuple[float, ...]:
    """Return the example as the model's input row."""
    return validate_payload(EXAMPLE).features()


@pytest.fixture(scope="session")
def event_loop_for_asgi() -> Iterator[asyncio.AbstractEventLoop]:
    """Yield one uvloop event loop reused by every ASGI call, as uvicorn runs (--loop uvloop).

    The loop matters for ``def`` handlers: their hop to the thread pool and back costs
    about 0.3 ms more on the standard asyncio loop.
    """
    loop = uvloop.new_event_loop()
    yield loop
    loop.close()
