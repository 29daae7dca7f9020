"""The report in a real browser: opened from disk with no network, every chart visible."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loadtests.report import render as report

pytestmark = pytest.mark.browser
FIXTURE = Path(__file__).parent / "data" / "report_fixture"
CHROMIUM = Path(report.CHROMIUM)
LOCAL_SCHEMES = ("file:", "data:")


def test_report_opens_from_disk_with_no_network(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: run `make system-deps`")
    from playwright.sync_api import sync_playwright

    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    html, _ = report.render(run)
    console: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=report.CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: console.append(str(exc)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.resolve().as_uri(), wait_until="load")
            charts = page.locator("figure[data-chart] svg")
            assert charts.count() == 6
            for i in range(charts.count()):
                chart = charts.nth(i)
                chart.scroll_into_view_if_needed()
                box = chart.bounding_box()
                assert box is not None, i
                assert box["width"] > 300, i
                assert box["height"] > 100, i
                assert chart.is_visible(), i
            headline = page.locator("#headline tbody tr")
            assert headline.count() == len(report.load_run(run).targets)
            page.screenshot(path=str(run / "report.png"), full_page=True)
        finally:
            browser.close()
    assert console == []
    assert requests, "the page itself is a request"
    assert [u for u in requests if not u.startswith(LOCAL_SCHEMES)] == []
    assert (run / "report.png").stat().st_size > 50_000
