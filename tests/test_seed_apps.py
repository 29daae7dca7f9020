"""The article's apps as real servers on loopback: they do what the article's code did.

fastapi-seed and article-fastapi: every field a lax ``float`` (numeric strings, booleans
and negatives pass; null, words and lists get FastAPI's own 422), answer
``{"prediction": statement}``. article-flask: each field through ``float()``, so a word
crashes the request with a 500, and the server goes on answering.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic.warnings import PydanticDeprecatedSince20

from fastapi_app.seed import create_app
from loadtests.common.procs import Managed, is_gone
from loadtests.common.servers import launch
from loadtests.targets import get_target
from shared_model import EXAMPLE, Settings
from shared_model._messages import STATEMENTS
from tests.conftest import SyncASGITransport

FIELD = "Persons_age"
FASTAPI_SEEDS = ("fastapi-seed", "article-fastapi")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@contextmanager
def running(name: str, model_dir: Path, log: Path) -> Iterator[tuple[str, Managed]]:
    """Start a target with its exact command; yield its URL and process; stop it by PID."""
    proc, url = launch(get_target(name), env={"FVF_MODEL_DIR": str(model_dir)}, log_path=log)
    try:
        yield url, proc
    finally:
        pids = proc.remember_tree()
        proc.stop()
        assert all(is_gone(pid) for pid in pids), f"{name} outlived its stop"


@pytest.fixture(scope="module", params=FASTAPI_SEEDS)
def fastapi_seed(
    request: pytest.FixtureRequest, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield the URL of each of the article's FastAPI targets in turn."""
    log = tmp_path_factory.mktemp("logs") / f"{request.param}.log"
    with running(request.param, model_dir, log) as (url, _):
        yield url


@pytest.fixture(scope="module")
def article_flask(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Managed]]:
    """Yield the URL and process of the article's Flask app under app.run()."""
    log = tmp_path_factory.mktemp("logs") / "article-flask.log"
    with running("article-flask", model_dir, log) as served:
        yield served


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    """POST one JSON body to /predict."""
    return httpx.post(f"{url}/predict", json=body, timeout=10)


@pytest.mark.parametrize("value", ["52", True, -5, " 52 ", "1e3", "NaN"])
def test_fastapi_seed_takes_what_lax_float_takes(fastapi_seed: str, value: Any) -> None:
    response = post(fastapi_seed, {**EXAMPLE, FIELD: value})
    assert response.status_code == 200
    assert response.json().keys() == {"prediction"}
    assert response.json()["prediction"] in STATEMENTS.values()


def test_fastapi_seed_ignores_unknown_fields(fastapi_seed: str) -> None:
    response = post(fastapi_seed, {**EXAMPLE, "unknown": "anything"})
    assert response.status_code == 200
    assert response.json().keys() == {"prediction"}


@pytest.mark.parametrize("value", [None, "abc", [1]])
def test_fastapi_seed_refuses_with_fastapis_own_422(fastapi_seed: str, value: Any) -> None:
    response = post(fastapi_seed, {**EXAMPLE, FIELD: value})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", FIELD]
    assert error["msg"]


def test_fastapi_seed_answers_health(fastapi_seed: str) -> None:
    response = httpx.get(f"{fastapi_seed}/health", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_article_flask_crashes_on_a_word_and_keeps_serving(
    article_flask: tuple[str, Managed],
) -> None:
    url, proc = article_flask
    crashed = post(url, {**EXAMPLE, FIELD: "abc"})
    assert crashed.status_code == 500
    assert proc.alive()
    after = post(url, EXAMPLE)
    assert after.status_code == 200
    assert after.json()["prediction"] in STATEMENTS.values()


@pytest.mark.parametrize("value", ["52", True, -5])
def test_article_flask_takes_what_float_takes(
    article_flask: tuple[str, Managed], value: Any
) -> None:
    url, _ = article_flask
    assert post(url, {**EXAMPLE, FIELD: value}).status_code == 200


def test_article_flask_answers_health(article_flask: tuple[str, Managed]) -> None:
    url, _ = article_flask
    response = httpx.get(f"{url}/health", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_nan_reaching_sklearn_is_a_500_shown_not_fixed(model_dir: Path) -> None:
    """In-process: the article's app passes NaN on; scikit-learn's model refuses it."""
    app = create_app(Settings(model_dir=model_dir, backend="sklearn"))
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        # The article's handler calls .dict(), deprecated since pydantic 2: kept as it was.
        with pytest.warns(PydanticDeprecatedSince20):
            response = client.post("/predict", json={**EXAMPLE, FIELD: "NaN"})
    assert response.status_code == 500
