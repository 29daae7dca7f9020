"""The whole claims section: every claim's row and the figures behind it, and its partial."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jinja2

from loadtests.common.runfiles import read_matrix, read_summary
from loadtests.report.claims._docs import docs_row, docs_view, model_row, model_view
from loadtests.report.claims._invalid import fastapi_row, flask_row, invalid_view
from loadtests.report.claims._speed import speed_row, speed_view
from loadtests.report.claims._sweep import sweep_row, sweep_view

CHART_DIR = "charts"  # the report's chart folder, beside report.html
TEMPLATES = Path(__file__).parent.parent / "templates"


def claims_view(run_dir: Path, *, chart_dir: Path | None = None) -> dict[str, Any]:
    """Return everything the claims partials render, from the run folder's files.

    With sweep.json present its chart is drawn: PNG into chart_dir (default
    run_dir/charts), SVG inline in the returned dict.
    """
    summary = read_summary(run_dir)
    speed = speed_view(summary)
    invalid = invalid_view(read_matrix(run_dir), summary)
    docs = docs_view(summary)
    model = model_view(summary)
    sweep = sweep_view(run_dir, summary, chart_dir or run_dir / CHART_DIR)
    return {
        "run_id": summary.run_id,
        "rows": [
            speed_row(speed),
            flask_row(invalid),
            fastapi_row(invalid),
            docs_row(docs),
            model_row(model),
            sweep_row(sweep),
        ],
        "speed": speed,
        "invalid": invalid,
        "docs": docs,
        "model": model,
        "sweep": sweep,
        "colours": {n: t.colour for n, t in summary.targets.items()},
    }


def render_claims(view: Mapping[str, Any], fmt: Literal["html", "md"]) -> str:
    """Render the claims partial alone (the report includes it with ``claims`` in context)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=fmt == "html",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(f"_claims.{fmt}.j2").render(claims=view)
