"""The HTML form and the docs pages in a real browser: headless Debian Chromium, Playwright."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from shared_model import EXAMPLE, Settings, predict, validate_payload
from tests.conftest import FRONTENDS, serve

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def example_statement(settings: Settings) -> str:
    """Return the statement shared_model gives the example body (what every page must show)."""
    return predict(validate_payload(EXAMPLE).features(), settings).statement


@pytest.mark.parametrize("target", FRONTENDS)
def test_form_shows_statement_then_field_message(
    browser: object, target: str, model_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    expected = example_statement(settings)
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


def offline_page(browser: Any) -> tuple[Any, list[str], list[str]]:
    """Open a page on which every request to a host other than 127.0.0.1 is aborted.

    Return the page, the URLs of the attempted non-loopback requests and the page errors.
    """
    outside: list[str] = []
    errors: list[str] = []
    context = browser.new_context()

    def guard(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, outside, errors


@pytest.mark.parametrize("target", FRONTENDS)
def test_swagger_ui_tries_predict_offline(
    browser: object, target: str, model_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    """/docs: Try it out on POST /predict, Execute the example, see 200 and the statement."""
    expected = example_statement(settings)
    with serve(target, model_dir) as url:
        page, outside, errors = offline_page(browser)
        page.goto(url + "/docs")
        operation = page.locator("#operations-default-predict")
        operation.locator(".opblock-summary").first.click()
        operation.get_by_role("button", name="Try it out").click()
        operation.get_by_role("button", name="Execute").click()
        live = operation.locator(".live-responses-table")
        live.wait_for()
        status = live.locator("tr.response .response-col_status").first
        assert status.inner_text().strip() == "200"
        assert expected in live.inner_text()
        page.screenshot(path=str(tmp_path / f"docs-{target}.png"), full_page=True)
        page.context.close()
    assert outside == []
    assert errors == []


@pytest.mark.parametrize("target", FRONTENDS)
def test_redoc_renders_predict_offline(
    browser: object, target: str, model_dir: Path, tmp_path: Path
) -> None:
    """/redoc: the POST /predict operation is rendered, nothing fetched from outside."""
    with serve(target, model_dir) as url:
        page, outside, errors = offline_page(browser)
        page.goto(url + "/redoc")
        section = page.locator('[data-section-id="operation/predict"]').first
        section.wait_for()
        text = section.inner_text()
        assert "Predict" in text
        assert "/predict" in text
        assert "Persons_age" in text
        page.screenshot(path=str(tmp_path / f"redoc-{target}.png"), full_page=True)
        page.context.close()
    assert outside == []
    assert errors == []
