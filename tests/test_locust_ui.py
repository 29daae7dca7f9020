"""`make locust-ui`: a target and Locust's web UI on loopback, driven from a real browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.common.procs import free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ROOT = Path(__file__).resolve().parent.parent
START_S = 90.0
STOP_S = 30.0


def answers(url: str) -> bool:
    """Return whether url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def listening(port: int) -> bool:
    """Return whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class LocustUI:
    """`make locust-ui TARGET=flask` running in its own process group."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, ui_port: int) -> None:
        self.proc, self.port, self.ui_port = proc, port, ui_port
        self.url = f"http://127.0.0.1:{ui_port}"

    def interrupt(self) -> int:
        """Press Ctrl-C: SIGINT to the whole group (make, its shell, Locust, the server)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_S)
            pytest.fail("make locust-ui did not stop on Ctrl-C")


@pytest.fixture
def locust_ui(model_dir: Path) -> Iterator[LocustUI]:
    """Start `make locust-ui TARGET=flask` on free ports; yield once its UI answers."""
    port, ui_port = free_port(), free_port()
    proc = subprocess.Popen(
        # -o: take the venv and the model as they are (never reinstall under a test run).
        ["make", "--no-print-directory", "-o", ".venv/.installed", "-o", "models/metadata.json",
         "locust-ui", "TARGET=flask", f"PORT={port}", f"LOCUST_PORT={ui_port}"],
        cwd=ROOT,
        env={**os.environ, "FVF_MODEL_DIR": str(model_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the Ctrl-C reaches only it
    )  # fmt: skip
    ui = LocustUI(proc, port, ui_port)
    try:
        deadline = time.monotonic() + START_S
        while not answers(ui.url + "/"):
            assert proc.poll() is None, f"make locust-ui exited {proc.returncode}"
            assert time.monotonic() < deadline, "Locust's UI did not answer"
            time.sleep(0.2)
        yield ui
    finally:
        ui.interrupt()


def test_swarm_from_the_ui_counts_requests_then_ctrl_c_stops_both(
    browser: object, locust_ui: LocustUI
) -> None:
    assert answers(f"http://127.0.0.1:{locust_ui.port}/health")
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(locust_ui.url + "/")
    page.locator("input[name=userCount]").fill("5")
    page.locator("input[name=spawnRate]").fill("5")
    page.get_by_role("button", name="Start").click()

    deadline = time.monotonic() + 30
    while (requests := _request_count(page)) == 0:
        assert time.monotonic() < deadline, "no request counted"
        page.wait_for_timeout(250)
    assert requests > 0

    page.get_by_role("button", name="Stop").click()
    page.get_by_text("STOPPED").first.wait_for(timeout=30_000)
    assert not errors
    page.close()

    locust_ui.interrupt()
    assert not listening(locust_ui.ui_port)
    assert not listening(locust_ui.port)


def _request_count(page: object) -> int:
    """Return the "# Requests" cell of the stats table's Aggregated row (0 before any)."""
    if not page.get_by_role("row").filter(has_text="Aggregated").count():  # type: ignore[attr-defined]
        return 0
    header = page.get_by_role("columnheader").all_inner_texts()  # type: ignore[attr-defined]
    cells = (
        page.get_by_role("row")  # type: ignore[attr-defined]
        .filter(has_text="Aggregated")
        .get_by_role("cell")
        .all_inner_texts()
    )
    column = next(i for i, name in enumerate(header) if "Requests" in name)
    text = cells[column].replace(",", "").strip() if len(cells) > column else ""
    return int(text) if text.isdigit() else 0
