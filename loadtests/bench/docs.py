"""Check the documentation a running target serves: /openapi.json, /docs and /redoc.

A page counts as usable here only if every script and stylesheet it loads comes from the
server itself: a page that loads Swagger UI or ReDoc from a CDN is blank on a machine
without internet (this one, many production networks, an air-gapped container).
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from loadtests.common.runfiles import DocsCheck, DocsPage

PAGES = ("/docs", "/redoc")
TIMEOUT_S = 5.0


class _Assets(HTMLParser):
    """Collect the src of scripts and the href of stylesheets of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.found.append(found["src"] or "")
        if tag == "link" and (found.get("rel") or "") == "stylesheet" and found.get("href"):
            self.found.append(found["href"] or "")


def _page(client: httpx.Client, base: str, path: str) -> DocsPage:
    try:
        answer = client.get(path)
    except httpx.HTTPError as exc:
        return DocsPage(path=path, status=None, error=f"{type(exc).__name__}: {exc}"[:200])
    parser = _Assets()
    if answer.status_code == 200 and "html" in answer.headers.get("content-type", ""):
        parser.feed(answer.text)
    origin = urlsplit(base).netloc
    external, missing = [], []
    for ref in parser.found:
        absolute = urljoin(f"{base}{path}", ref)
        if urlsplit(absolute).netloc != origin:
            external.append(absolute)
        elif client.get(urlsplit(absolute).path).status_code != 200:
            missing.append(absolute)
    usable = answer.status_code == 200 and bool(parser.found) and not external and not missing
    return DocsPage(
        path=path,
        status=answer.status_code,
        assets=len(parser.found),
        external_assets=external,
        missing_assets=missing,
        usable_offline=usable,
    )


def check(base_url: str) -> DocsCheck:
    """Fetch the OpenAPI document and the two pages of a target, and judge them offline."""
    with httpx.Client(base_url=base_url, timeout=TIMEOUT_S) as client:
        try:
            openapi = client.get("/openapi.json")
            openapi_status: int | None = openapi.status_code
            paths = sorted(openapi.json().get("paths", {})) if openapi.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            openapi_status, paths = None, []
        pages = [_page(client, base_url, path) for path in PAGES]
    return DocsCheck(openapi_status=openapi_status, openapi_paths=paths, pages=pages)
