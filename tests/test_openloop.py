"""The open-loop client: its Poisson schedule, its parser, its accounting over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from loadtests.common.hdr import figures, new_histogram
from loadtests.common.servers import launch, verify
from loadtests.loadgen.openloop import StepResult, parse_response, poisson_schedule, run_step
from loadtests.targets import get_target
from shared_model import EXAMPLE

BODY = json.dumps(EXAMPLE).encode()
ANSWER = b'{"prediction": "fixed", "label": 1, "probability": 0.5}'


def balanced(result: StepResult) -> bool:
    """Tell whether every request ended exactly once."""
    return result.balanced and result.sent == result.ok + result.failed + result.dropped


# --- the schedule ----------------------------------------------------------------------------


def test_poisson_schedule_has_the_mean_rate() -> None:
    offsets = poisson_schedule(1000.0, 20.0, seed=7)  # about 20,000 arrivals
    assert abs(len(offsets) - 20_000) < 0.03 * 20_000
    gaps = np.diff(offsets)
    assert abs(gaps.mean() - 1e-3) < 0.03 * 1e-3
    # Exponential gaps: the standard deviation equals the mean.
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.05
    assert np.all(gaps >= 0)
    assert offsets[0] >= 0
    assert offsets[-1] < 20.0


def test_poisson_schedule_is_reproduced_by_its_seed() -> None:
    first = poisson_schedule(2000.0, 3.0, seed=42)
    assert np.array_equal(first, poisson_schedule(2000.0, 3.0, seed=42))
    assert not np.array_equal(first[:100], poisson_schedule(2000.0, 3.0, seed=43)[:100])
    assert len(poisson_schedule(0.0, 3.0, seed=1)) == 0


# --- the parser ------------------------------------------------------------------------------


def test_parse_response_keep_alive_close_and_partial() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: x\r\n\r\nhi"
    assert parse_response(ok) == (len(ok), 200, b"hi", True)
    assert parse_response(ok[:-1]) is None
    assert parse_response(ok[:10]) is None
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"
    assert parse_response(closing) == (len(closing), 200, b"hi", False)
    old = b"HTTP/1.0 422 X\r\nContent-Length: 0\r\n\r\n"
    assert parse_response(old) == (len(old), 422, b"", False)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n"
    assert parse_response(chunked) == (len(chunked), 200, b"hi!", True)
    assert parse_response(chunked[:-2]) is None
    to_close = b"HTTP/1.1 200 OK\r\n\r\nbody"
    assert parse_response(to_close) == (-1, 200, b"", False)


# --- tiny loopback servers written here ------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    close = False  # answer with Connection: close
    answer = ANSWER
    connections: list[int]  # set per server: one entry per connection accepted

    def setup(self) -> None:
        super().setup()
        self.connections.append(1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.answer)))
        if self.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(close: bool, answer: bytes = ANSWER) -> Iterator[tuple[str, list[int]]]:
    connections: list[int] = []
    handler = type("H", (_Handler,), {"close": close, "answer": answer, "connections": connections})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", connections
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closing_server() -> Iterator[tuple[str, list[int]]]:
    """Return the URL of a server that answers every request with Connection: close."""
    yield from _serve(close=True)


@pytest.fixture
def keepalive_server() -> Iterator[tuple[str, list[int]]]:
    """Return the URL of a server that keeps connections open."""
    yield from _serve(close=False)


def test_connection_close_gets_a_new_connection_per_request(
    closing_server: tuple[str, list[int]],
) -> None:
    url, connections = closing_server
    result = run_step(
        url, 100.0, 1.0, body=BODY, expected=ANSWER, seed=3, warmup_s=0.0, timeout_s=2.0
    )
    assert balanced(result)
    assert result.sent > 50
    assert result.ok == result.sent
    assert result.connections_opened == result.sent
    assert len(connections) == result.sent
    assert result.latency_hdr


def test_keep_alive_connections_are_reused(keepalive_server: tuple[str, list[int]]) -> None:
    url, connections = keepalive_server
    result = run_step(url, 100.0, 1.0, body=BODY, expected=ANSWER, seed=3, warmup_s=0.2)
    assert balanced(result)
    assert result.ok == result.sent
    assert result.connections_opened < result.sent / 2
    assert len(connections) == result.connections_opened


def test_a_wrong_answer_is_failed(keepalive_server: tuple[str, list[int]]) -> None:
    url, _ = keepalive_server
    result = run_step(url, 50.0, 0.5, body=BODY, expected=b"something else", warmup_s=0.0)
    assert balanced(result)
    assert result.sent > 0
    assert result.failed == result.sent
    assert result.errors == {"wrong body": result.sent}


def test_a_server_that_never_answers_drops_every_request() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # connections complete in the kernel; nothing is ever read
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = run_step(
            url,
            40.0,
            0.5,
            body=BODY,
            expected=ANSWER,
            warmup_s=0.0,
            timeout_s=0.3,
            max_connections=4,
        )
    assert balanced(result)
    assert result.sent > 4
    assert result.dropped == result.sent
    assert result.ok == result.failed == 0
    assert result.connections_opened <= result.sent
    # Beyond 4 connections, requests waited for one and never got it: dropped, not skipped.
    assert set(result.errors) <= {"timeout", "no connection in time", "timeout while connecting"}


def test_a_refused_connection_is_failed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connecting is refused
        result = run_step(
            f"http://127.0.0.1:{port}", 40.0, 0.3, body=BODY, expected=ANSWER, warmup_s=0.0
        )
    assert balanced(result)
    assert result.failed == result.sent > 0


# --- real targets ----------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("name", ["flask", "fastapi"])
def test_a_tiny_step_against_a_real_target(name: str, tmp_path: Path) -> None:
    proc, url = launch(get_target(name), cores=[0], log_path=tmp_path / f"{name}.log")
    try:
        expected = verify(url, "onnx").predict
        result = run_step(url, 100.0, 1.0, body=BODY, expected=expected, seed=1, warmup_s=0.2)
    finally:
        proc.stop()
    assert balanced(result)
    assert result.ok > 0
    assert result.p99_ms is not None
    if name == "flask":  # gunicorn's sync worker closes every connection
        assert result.connections_opened >= result.sent
    else:
        assert result.connections_opened < result.sent


def test_figures_without_the_mean_keep_every_percentile() -> None:
    """The open-loop client skips hdrh's slow mean; every other figure stays the same."""
    histogram = new_histogram()
    for micros in range(100, 5000, 7):
        histogram.record_value(micros)
    full, lean = figures(histogram), figures(histogram, mean=False)
    assert full["mean_ms"] == pytest.approx(2.55, rel=0.01)
    assert lean["mean_ms"] is None
    assert {k: v for k, v in lean.items() if k != "mean_ms"} == {
        k: v for k, v in full.items() if k != "mean_ms"
    }
