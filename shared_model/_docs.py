"""Swagger UI and ReDoc pages of the shared OpenAPI document, for both frontends.

The JavaScript and CSS come from the ``fastapi-offline`` wheel (a locked dependency that
ships the Swagger UI and ReDoc builds) and are served by the frontends themselves under
``ASSETS_URL``: the pages load nothing from a CDN and work offline.
"""

from __future__ import annotations

import html
import importlib.util
from functools import lru_cache
from pathlib import Path

from ._openapi import TITLE

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
ASSETS_PACKAGE = "fastapi_offline"  # only its static files are used, never its code
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
# The pages may load from their own origin only. ReDoc's sidebar links Redocly's logo from
# its CDN, unconditionally: the policy stops the browser from even trying. Inline script and
# styles: our two-line init and both UIs' own style injection; blob: ReDoc's search worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


@lru_cache
def _assets_dir() -> Path:
    """Return the folder of the installed assets (found without importing the package)."""
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{ASSETS_PACKAGE} is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def docs_asset(name: str) -> Path | None:
    """Return the file of one docs asset, or None if the name is not one of ``ASSETS``."""
    return _assets_dir() / name if name in ASSETS else None


def _head(title: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
        f"<title>{html.escape(title)}</title>\n"
        f'<link rel="icon" type="image/png" href="{ASSETS_URL}/favicon.png">\n'
    )


@lru_cache
def swagger_ui_page() -> str:
    """Return the Swagger UI page (``/docs``): the document, tried out in place."""
    # validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
    return (
        _head(f"{TITLE} - Swagger UI")
        + f'<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">\n</head>\n<body>\n'
        '<div id="swagger-ui"></div>\n'
        f'<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>\n'
        "<script>\n"
        "window.ui = SwaggerUIBundle({\n"
        f'  url: "{OPENAPI_URL}",\n'
        '  dom_id: "#swagger-ui",\n'
        '  layout: "BaseLayout",\n'
        "  deepLinking: true,\n"
        "  validatorUrl: null,\n"
        "  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],\n"
        "});\n"
        "</script>\n</body>\n</html>\n"
    )


@lru_cache
def redoc_page() -> str:
    """Return the ReDoc page (``/redoc``): the document, rendered for reading."""
    return (
        _head(f"{TITLE} - ReDoc")
        + "<style>body { margin: 0; padding: 0; }</style>\n</head>\n<body>\n"
        f'<redoc spec-url="{OPENAPI_URL}"></redoc>\n'
        f'<script src="{ASSETS_URL}/redoc.standalone.js"></script>\n'
        "</body>\n</html>\n"
    )
