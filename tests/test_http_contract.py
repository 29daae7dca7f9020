"""The contract over real HTTP: each validated target started with its table command."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtests.robustness.cases import BY_NAME, Case
from loadtests.targets import TARGETS
from shared_model import EXAMPLE, FIELD_NAMES, Settings, predict
from tests.conftest import serve

pytestmark = pytest.mark.integration
VALIDATED = tuple(name for name, t in TARGETS.items() if t.handler != "seed")


@pytest.fixture(scope="module", params=VALIDATED)
def base_url(request: pytest.FixtureRequest, model_dir: Path) -> Iterator[str]:
    """Yield the URL of one validated target running as a real server."""
    with serve(request.param, model_dir) as url:
        yield url


def raw_exchange(url: str, request_bytes: bytes) -> bytes:
    """Send raw bytes on one connection and return everything the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_bytes)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_predict_answers_like_the_shared_model(base_url: str, settings: Settings) -> None:
    response = httpx.post(f"{base_url}/predict", json=EXAMPLE)
    assert response.status_code == 200
    features = [float(EXAMPLE[n]) for n in FIELD_NAMES]
    assert response.json() == predict(features, settings).as_response()


def send_case(url: str, case: Case) -> httpx.Response:
    """Send one catalogue case (POST /predict unless it says otherwise), with its content type."""
    return httpx.request(case.method, f"{url}{case.path}", content=case.body, headers=case.headers)


def test_invalid_body_gets_422_naming_the_field(base_url: str) -> None:
    case = BY_NAME["persons_age_string"]
    response = send_case(base_url, case)
    assert response.status_code == case.expected_status == 422
    assert response.json()["detail"][0]["loc"] == ["body", case.field]


@pytest.mark.parametrize("name", ["method_get_predict", "method_trace_health"])
def test_wrong_method_gets_405_with_allow(base_url: str, name: str) -> None:
    """Through the real server too, a 405 carries Allow (RFC 9110) and the contract's body."""
    case = BY_NAME[name]
    response = send_case(base_url, case)
    assert response.status_code == case.expected_status == 405
    assert response.headers["allow"] == case.allow
    assert response.json()["detail"][0]["type"] == "http_405"


def test_docs_pages_and_assets_are_served(base_url: str) -> None:
    """/docs and /redoc answer with HTML whose every script and stylesheet is local."""
    for page in ("/docs", "/redoc"):
        response = httpx.get(f"{base_url}{page}")
        assert response.status_code == 200
        for asset in re.findall(r'(?:src|href)="([^"]+)"', response.text):
            assert asset.startswith("/"), asset
            assert httpx.get(f"{base_url}{asset}").status_code == 200, asset


def test_chunked_body_over_the_limit_gets_413(base_url: str) -> None:
    """A body without Content-Length is counted as it streams and cut at 16 KiB."""
    chunk = b"400\r\n" + b" " * 1024 + b"\r\n"
    request = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunk * 20 + b"0\r\n\r\n"
    )
    answer = raw_exchange(base_url, request)
    assert answer.split(b"\r\n", 1)[0].split()[1] == b"413", answer[:200]


def test_chunked_valid_body_is_accepted(base_url: str) -> None:
    body = json.dumps(EXAMPLE).encode()
    request = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    )  # fmt: skip
    answer = raw_exchange(base_url, request)
    assert answer.split(b"\r\n", 1)[0].split()[1] == b"200", answer[:300]


def test_declared_oversize_body_refused_before_it_is_sent(base_url: str) -> None:
    """The 413 arrives although only the headers of a 10 MB body were sent."""
    request = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10485760\r\nConnection: close\r\n\r\n{"
    )
    answer = raw_exchange(base_url, request)
    assert answer.split(b"\r\n", 1)[0].split()[1] == b"413", answer[:200]


def test_seed_target_crashes_on_a_string_as_the_article_did(model_dir: Path) -> None:
    with serve("flask-seed", model_dir) as url:
        assert httpx.post(f"{url}/predict", json=EXAMPLE).status_code == 200
        response = send_case(url, BY_NAME["persons_age_string"])
        assert response.status_code == 500
        assert httpx.get(f"{url}/health").status_code == 200
