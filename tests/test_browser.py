"""The HTML form in a real browser: headless Debian Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.report.render import CHROMIUM as CHROMIUM_PATH
from loadtests.report.render import CHROMIUM_ARGS
from shared_model import EXAMPLE, FIELD_NAMES, Settings, predict
from tests.conftest import FRONTENDS, serve

pytestmark = [pytest.mark.browser, pytest.mark.integration]
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


@pytest.mark.parametrize("target", FRONTENDS)
def test_form_shows_statement_then_field_message(
    browser: object, target: str, model_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    expected = predict([float(EXAMPLE[n]) for n in FIELD_NAMES], settings).statement
    with serve(target, model_dir) as url:
        page = browser.new_page()  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        for name, value in EXAMPLE.items():
            control = page.locator(f"#{name}")
            if control.evaluate("e => e.tagName") == "SELECT":
                control.select_option(str(value))
            else:
                control.fill(str(value))
        page.get_by_role("button", name="Predict").click()
        page.wait_for_selector("#result")
        assert expected in page.locator("#result").inner_text()

        page.locator("#Persons_age").fill("250")
        page.get_by_role("button", name="Predict").click()
        message = page.locator("#Persons_age-error")
        message.wait_for()
        assert "less than or equal to 120" in message.inner_text()
        assert page.locator("#Persons_age").input_value() == "250"
        assert page.locator("#result").count() == 0
        page.screenshot(path=str(tmp_path / f"form-{target}.png"))
        page.close()
        assert errors == []
