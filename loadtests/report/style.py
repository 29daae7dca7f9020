"""The report's chart style: rc settings, colours and markers, and SVG and axis helpers.

One colour per target in every chart (each target's ``colour`` in summary.json) and one
marker per server, so no chart relies on colour alone; an invalid figure is drawn grey.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from loadtests.report.load import Data, Run

EXTRA_COLOURS = ("#F0E442", "#882255", "#44AA99", "#332288", "#AA4499")
MARKERS = {"gunicorn": "o", "uvicorn": "s", "granian": "^"}
INVALID_GREY = "#8c8c8c"  # an invalid figure: measured while the load generator had no headroom
STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "svg.fonttype": "path",  # text as outlines: no font needed where the SVG is opened
    "svg.hashsalt": "flask-vs-fastapi",  # stable ids: the same data draws the same SVG
}


@dataclass(frozen=True)
class Chart:
    """One drawn chart: inline SVG, and the PNG written beside the report."""

    name: str
    title: str
    caption: str
    svg: str
    png: str  # path relative to the run folder


def colours(run: Run) -> dict[str, str]:
    """Return each target's colour from summary.json (one without a colour gets a spare)."""
    out, spare = {}, iter(EXTRA_COLOURS * 4)
    for name, target in run.targets.items():
        out[name] = target.get("colour") or next(spare)
    return out


def marker(target: Data) -> str:
    """Return the marker of a target's server."""
    return MARKERS.get(str(target.get("server")), "D")


def inline_svg(fig: Figure, prefix: str) -> str:
    """Return the figure as an inline <svg> whose ids cannot clash with another chart's."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    for ident in sorted(ids, key=len, reverse=True):
        text = text.replace(f'id="{ident}"', f'id="{prefix}-{ident}"')
        text = text.replace(f'"#{ident}"', f'"#{prefix}-{ident}"')
        text = text.replace(f"url(#{ident})", f"url(#{prefix}-{ident})")
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


def no_data(ax: Axes, text: str = "not measured in this run") -> None:
    """Write the text in the middle of an empty axes, without ticks."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def error_bar(value: float, pair: tuple[float, float] | None) -> list[list[float]]:
    """Return the yerr of a value with its (low, high) spread (zero-length without one)."""
    low, high = pair if pair else (value, value)
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]
