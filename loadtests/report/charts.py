"""Draw the report's charts with matplotlib: inline SVG for the HTML, PNG for the Markdown.

One colour per target in every chart (Okabe-Ito, colour-blind safe: Flask targets in
warm colours, FastAPI in cool ones) and one marker per server, so no chart relies on
colour alone.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from loadtests.report.load import Data, Run, fixed_at, spread_of

COLOURS = {
    "flask-seed": "#CC79A7",
    "flask": "#E69F00",
    "flask-granian": "#D55E00",
    "fastapi": "#0072B2",
    "fastapi-async": "#56B4E9",
    "fastapi-granian": "#009E73",
}
EXTRA_COLOURS = ("#000000", "#999999", "#F0E442", "#882255", "#44AA99", "#332288")
MARKERS = {"gunicorn": "o", "uvicorn": "s", "granian": "^"}
PARTS = (
    ("model_us", "model (ONNX)", "#0072B2"),
    ("validation_us", "validation", "#009E73"),
    ("framework_us", "framework (in-process)", "#E69F00"),
    ("server_network_us", "server, network and client", "#BBBBBB"),
)
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


def colour(name: str, order: list[str]) -> str:
    """Return the fixed colour of a target (unknown targets get spare colours in order)."""
    if name in COLOURS:
        return COLOURS[name]
    extra = [n for n in order if n not in COLOURS]
    return EXTRA_COLOURS[extra.index(name) % len(EXTRA_COLOURS)] if name in extra else "#000000"


def marker(target: Data) -> str:
    """Return the marker of a target's server."""
    return MARKERS.get(str(target.get("server")), "D")


def _svg(fig: Figure, prefix: str) -> str:
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


def _finish(fig: Figure, out: Path, name: str, title: str, caption: str) -> Chart:
    """Write the PNG beside the report and return the chart with its SVG."""
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", format="png", dpi=110, bbox_inches="tight")
    svg = _svg(fig, f"c-{name}")
    plt.close(fig)
    return Chart(name, title, caption, svg, f"{out.name}/{name}.png")


def _no_data(ax: Axes, text: str = "not measured in this run") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def _error(value: float, pair: tuple[float, float] | None) -> list[list[float]]:
    low, high = pair if pair else (value, value)
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]


def throughput(run: Run, order: list[str]) -> Figure:
    """Draw throughput against concurrency per target, with spread, wrk and bound marks."""
    fig, ax = plt.subplots(figsize=(9.0, 3.8))
    bound_drawn = wrk_drawn = False
    for name, target in run.targets.items():
        sweep = [p for p in target.get("sweep") or [] if p.get("rps") is not None]
        if not sweep:
            continue
        c, m = colour(name, order), marker(target)
        xs = [p["users"] for p in sweep]
        ys = [p["rps"] for p in sweep]
        ax.plot(xs, ys, color=c, marker=m, label=name, linewidth=1.6, markersize=5)
        for p in sweep:
            pair = spread_of(p, "rps")
            if pair:
                ax.errorbar(p["users"], p["rps"], yerr=_error(p["rps"], pair), color=c, capsize=3)
            if p.get("load_generator_bound"):
                label = None if bound_drawn else "load-generator-bound"
                ax.plot(p["users"], p["rps"], "x", color="#000", markersize=9, label=label)
                bound_drawn = True
        wrk = target.get("wrk") or {}
        if wrk.get("rps") and wrk.get("connections"):
            label = None if wrk_drawn else "wrk (same level)"
            ax.plot(wrk["connections"], wrk["rps"], "D", mfc="none", color=c, label=label)
            wrk_drawn = True
    if not ax.lines:
        _no_data(ax)
        return fig
    ax.set_xscale("log", base=2)
    levels = sorted({p["users"] for t in run.targets.values() for p in t.get("sweep") or []})
    ax.xaxis.set_major_locator(FixedLocator(levels))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("concurrent users (closed loop)")
    ax.set_ylabel("POST /predict, answered req/s")
    ax.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    extra = ("wrk (same level)", "load-generator-bound")
    ordered = sorted(zip(handles, labels, strict=True), key=lambda hl: hl[1] in extra)
    ax.legend(*zip(*ordered, strict=True), loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def read_percentiles(path: Path) -> list[tuple[float, float]]:
    """Return (percentile 0..1, latency ms) pairs of an HdrHistogram percentile CSV."""
    if not path.is_file():
        return []
    out = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                out.append((float(row["Percentile"]), float(row["Value"])))
            except (KeyError, ValueError):
                continue
    return out


def _nines(p: float) -> float:
    return -math.log10(max(1.0 - p, 1e-6))


def latency_curves(run: Run, order: list[str]) -> Figure:
    """Draw p50..p99.9 latency curves at each fixed rate, from the HdrHistogram CSVs."""
    fractions = sorted(
        {float(p["fraction"]) for t in run.targets.values() for p in t.get("fixed_rate") or []}
    )
    fig, axes = plt.subplots(
        1, max(len(fractions), 1), figsize=(9.6, 3.8), sharey=True, squeeze=False
    )
    if not fractions:
        _no_data(axes[0][0])
        return fig
    ticks = [0.5, 0.9, 0.99, 0.999]
    for ax, fraction in zip(axes[0], fractions, strict=True):
        drawn = False
        for name, target in run.targets.items():
            phase = fixed_at(target, fraction)
            for i, files in enumerate((phase or {}).get("files") or []):
                rel = files.get("percentiles_csv") if isinstance(files, dict) else None
                points = [
                    (_nines(p), v)
                    for p, v in read_percentiles(run.path / rel if rel else Path("/nonexistent"))
                    if 0.5 <= p <= 0.999
                ]
                if len(points) < 2:
                    continue
                ax.plot(
                    *zip(*points, strict=True),
                    color=colour(name, order),
                    linewidth=1.4,
                    alpha=1.0 if i == 0 else 0.55,
                    linestyle="-" if i == 0 else "--",
                    label=name if i == 0 else None,
                )
                drawn = True
        ax.set_title(f"fixed rate, {fraction:.0%} of each target's capacity")
        if not drawn:
            _no_data(ax, "no percentile files")
            continue
        ax.set_yscale("log")
        ax.set_xlim(_nines(0.5) - 0.05, _nines(0.999) + 0.05)
        ax.xaxis.set_major_locator(FixedLocator([_nines(t) for t in ticks]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"p{100 * (1 - 10**-v):.3g}"))
        ax.set_xlabel("percentile (from intended send time)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0][0].set_ylabel("latency, ms (log)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def decomposition(run: Run, order: list[str]) -> Figure:
    """Draw the per-request cost split as stacked bars: in-process zoom, then the HTTP whole."""
    rows = [(n, t["decomposition"]) for n, t in run.targets.items() if t.get("decomposition")]
    height = 0.42 * max(len(rows), 2) + 1.4
    fig, axes = plt.subplots(1, 2, figsize=(9.6, height), sharey=True, width_ratios=[1, 1.4])
    if not rows:
        for ax in axes:
            _no_data(ax, "no in-process benches in this run")
        return fig
    names = [n for n, _ in rows][::-1]
    parts = {"in-process request": PARTS[:3], "whole HTTP request (p50, one user)": PARTS}
    for ax, (title, shown) in zip(axes, parts.items(), strict=True):
        for key, label, c in shown:
            before = [k for k, *_ in PARTS[: _index(key)]]
            lefts = [sum(max(d.get(k) or 0.0, 0.0) for k in before) for _, d in rows][::-1]
            widths = [max(d.get(key) or 0.0, 0.0) for _, d in rows][::-1]
            ax.barh(names, widths, left=lefts, color=c, label=label, edgecolor="white", height=0.6)
        total_key = "in_process_us" if len(shown) == 3 else "http_p50_us"
        for y, (_, d) in enumerate(rows[::-1]):
            total = d.get(total_key)
            if total is not None:
                ax.text(total, y, f" {total:,.0f}", va="center", fontsize=8)
        ax.set_title(title)
        ax.set_xlabel("µs per request")
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.14)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _index(key: str) -> int:
    return [k for k, *_ in PARTS].index(key)


def grid(run: Run, order: list[str]) -> Figure:
    """Draw peak throughput by server, one bar per framework (validated def handlers)."""
    servers = ["gunicorn", "uvicorn", "granian"]
    frameworks = ["flask", "fastapi"]
    fig, ax = plt.subplots(figsize=(8.0, 3.4))
    cells = {
        (t.get("framework"), t.get("server")): (n, t)
        for n, t in run.targets.items()
        if t.get("handler") == "def" and t.get("peak")
    }
    if not cells:
        _no_data(ax)
        return fig
    width = 0.38
    for i, framework in enumerate(frameworks):
        for j, server in enumerate(servers):
            x = j + (i - 0.5) * width
            if (framework, server) not in cells:
                ax.text(x, 0, "n/a", ha="center", va="bottom", color="#888", fontsize=8)
                continue
            name, target = cells[(framework, server)]
            peak = target["peak"]
            ax.bar(
                x,
                peak["rps"],
                width,
                color=colour(name, order),
                hatch="" if framework == "flask" else "//",
                edgecolor="white",
                label=name,
            )
            pair = spread_of(peak, "rps")
            if pair:
                ax.errorbar(x, peak["rps"], yerr=_error(peak["rps"], pair), color="#333", capsize=3)
            top = max(peak["rps"], pair[1] if pair else 0.0)
            ax.text(x, top, f"{peak['rps']:,.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(servers)), servers)
    ax.set_ylabel("peak POST /predict req/s")
    ax.grid(axis="x", visible=False)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.margins(y=0.15)
    return fig


def error_path(run: Run, order: list[str]) -> Figure:
    """Draw throughput and p99 of the invalid mix next to valid traffic at the same level."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    rows = []
    for name, target in run.targets.items():
        mix = target.get("invalid_mix")
        if not mix:
            continue
        valid = next(
            (p for p in target.get("sweep") or [] if p.get("users") == mix.get("users")), None
        )
        rows.append((name, valid or {}, mix))
    if not rows:
        _no_data(left)
        _no_data(right)
        return fig
    xs = range(len(rows))
    for ax, key, label in ((left, "rps", "answered req/s"), (right, "p99_ms", "p99, ms")):
        for k, (name, valid, mix) in enumerate(rows):
            c = colour(name, order)
            ax.bar(k - 0.2, valid.get(key) or 0, 0.4, color=c, edgecolor="white")
            ax.bar(k + 0.2, mix.get(key) or 0, 0.4, color=c, hatch="xx", alpha=0.55)
        ax.set_xticks(list(xs), [r[0] for r in rows], rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.grid(axis="x", visible=False)
    left.set_title("throughput: valid (solid) vs invalid mix (hatched)")
    right.set_title("p99 latency at the same level")
    fig.tight_layout()
    return fig


def compare_peaks(base: Run, new: Run, order: list[str]) -> Figure:
    """Draw each target's peak throughput in the base run and the new run."""
    names = [n for n in order if n in base.targets or n in new.targets]
    fig, ax = plt.subplots(figsize=(9.0, 3.4))
    if not names:
        _no_data(ax)
        return fig
    for k, name in enumerate(names):
        c = colour(name, order)
        for offset, run, alpha in ((-0.2, base, 0.45), (0.2, new, 1.0)):
            peak = (run.targets.get(name) or {}).get("peak") or {}
            if peak.get("rps") is None:
                continue
            ax.bar(k + offset, peak["rps"], 0.4, color=c, edgecolor="white", alpha=alpha)
            pair = spread_of(peak, "rps")
            if pair:
                ax.errorbar(k + offset, peak["rps"], yerr=_error(peak["rps"], pair), color="#333")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("peak req/s: base (pale) → new")
    ax.grid(axis="x", visible=False)
    return fig


ChartFn = Callable[[Run, list[str]], Figure]
REPORT_CHARTS: tuple[tuple[str, str, str, ChartFn], ...] = (
    (
        "throughput",
        "Throughput against concurrency",
        "Closed-loop sweep of POST /predict; bars: min-max over repeats; "
        "hollow diamonds: wrk at the peak level; x: a load-generator-bound level.",
        throughput,
    ),
    (
        "latency",
        "Latency percentiles at fixed rates",
        "Open loop, measured from each request's intended send time (no coordinated "
        "omission); solid: repeat 1, dashed: further repeats.",
        latency_curves,
    ),
    (
        "decomposition",
        "Where a request's time goes",
        "Model, validation and framework from the in-process benches (medians); "
        "server, network and client = HTTP p50 at one user minus the in-process request.",
        decomposition,
    ),
    (
        "grid",
        "Framework \u00d7 server",
        "Peak throughput of the validated def handlers; granian serves both frameworks, "
        "so its pair isolates the framework.",
        grid,
    ),
    (
        "error_path",
        "Error path next to the valid path",
        "Invalid mix (a share of catalogue bodies) against valid traffic at the same concurrency.",
        error_path,
    ),
)


def draw(run: Run, out: Path) -> list[Chart]:
    """Draw the report's charts for a run, writing their PNGs into out."""
    order = list(run.targets)
    with plt.rc_context(STYLE):  # type: ignore[arg-type]
        return [
            _finish(fn(run, order), out, name, title, caption)
            for name, title, caption, fn in REPORT_CHARTS
        ]


def draw_compare(base: Run, new: Run, out: Path) -> list[Chart]:
    """Draw the comparison chart of two runs, writing its PNG into out."""
    order = list(dict.fromkeys([*base.targets, *new.targets]))
    with plt.rc_context(STYLE):  # type: ignore[arg-type]
        fig = compare_peaks(base, new, order)
        caption = "Pale: base run; solid: new run; bars: min-max over repeats."
        return [_finish(fig, out, f"compare-{base.run_id}", "Peak throughput", caption)]
