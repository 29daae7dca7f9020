"""Draw the report's charts with matplotlib: inline SVG for the HTML, PNG for the Markdown.

``draw`` draws the report's charts (``curve_charts``, ``bar_charts``) in ``style``'s
rc settings; ``draw_compare`` draws the chart comparing two runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from loadtests.report.bar_charts import decomposition, error_path, grid, sustainable
from loadtests.report.curve_charts import latency, throughput
from loadtests.report.load import Run, number, ranked_source, spread_of
from loadtests.report.style import STYLE, Chart, colours, error_bar, inline_svg, no_data


def _finish(fig: Figure, out: Path, name: str, title: str, caption: str) -> Chart:
    """Write the PNG beside the report and return the chart with its SVG."""
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", format="png", dpi=110, bbox_inches="tight")
    svg = inline_svg(fig, f"c-{name}")
    plt.close(fig)
    return Chart(name, title, caption, svg, f"{out.name}/{name}.png")


def compare_peaks(base: Run, new: Run, order: list[str]) -> Figure:
    """Draw each target's throughput (each run's verdict source) and sustainable throughput
    in the base run and the new run."""
    names = [n for n in order if n in base.targets or n in new.targets]
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6), squeeze=False)
    if not names:
        for ax in axes[0]:
            no_data(ax)
        return fig
    palette = {**colours(base), **colours(new)}
    runs = ((-0.2, base, ranked_source(base), 0.45), (0.2, new, ranked_source(new), 1.0))
    tools = dict.fromkeys(source.tool for _, _, source, _ in runs)
    panels = (
        ("throughput", "rps", f"req/s ({' → '.join(tools)})"),
        ("sustainable_rps", "median", "sustainable req/s"),
    )
    for ax, (part, key, title) in zip(axes[0], panels, strict=True):
        for k, name in enumerate(names):
            for offset, run, source, alpha in runs:
                phase = source.phase if part == "throughput" else part
                found = (run.targets.get(name) or {}).get(phase) or {}
                value = number(found.get(key))
                if value is None:
                    continue
                ax.bar(k + offset, value, 0.4, color=palette[name], edgecolor="white", alpha=alpha)
                pair = (
                    spread_of(found, key)
                    if part == "throughput"
                    else (number(found.get("low")), number(found.get("high")))
                )
                if pair and pair[0] is not None and pair[1] is not None:
                    ax.errorbar(k + offset, value, yerr=error_bar(value, pair), color="#333")  # type: ignore[arg-type]
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_title(f"{title}: base (pale) → new")
        ax.grid(axis="x", visible=False)
    fig.tight_layout()
    return fig


ChartFn = Callable[[Run, list[str]], Figure]
REPORT_CHARTS: tuple[tuple[str, str, str, ChartFn], ...] = (
    (
        "throughput",
        "Throughput against concurrency",
        "Closed-loop sweep of POST /predict, median over rounds; bars: min-max over rounds; "
        "hollow diamonds: wrk at 32 connections; grey circles: invalid figures (load "
        "generator without headroom).",
        throughput,
    ),
    (
        "latency",
        "Latency against offered rate",
        "Open-loop ladder of rates common to all targets, Poisson arrivals, latency from "
        "each request's intended send time (no coordinated omission); medians over rounds; "
        "dotted: the latency bound; hollow grey circles: points not valid in every round.",
        latency,
    ),
    (
        "sustainable",
        "Sustainable throughput",
        "Highest offered rate with p99 within the bound and nothing failed or dropped; "
        "median over rounds, bars: 95 % bootstrap interval; hatched with a triangle: a lower "
        "bound (the top rung still passed).",
        sustainable,
    ),
    (
        "decomposition",
        "CPU per request: where a request's work goes, with the wall time beside it",
        "Left, CPU time, parts that add up: model, validation and framework from the "
        "in-process benches on the CPU clock (time.process_time, every thread of the process; "
        "medians), server and kernel = the server's CPU per request under load (wrk phase, "
        "median over rounds; the black tick) minus the in-process request's CPU; hatched: a "
        "negative part (the in-process call costs more CPU than a request under load). Right, "
        "wall time, not additive: one in-process request, and the HTTP p50 at one user "
        "(Locust).",
        decomposition,
    ),
    (
        "grid",
        "Framework \u00d7 server",
        "Throughput of the validated def handlers from the verdict's source (wrk whenever wrk "
        "ran, else Locust's peak; the axis names it), median over rounds, bars: min-max; "
        "hollow diamonds: the other tool, context only, not ranked; white with a grey edge: "
        "invalid. granian serves both frameworks, so its pair isolates the framework.",
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
        caption = (
            "Pale: base run; solid: new run; left: each run's throughput from its verdict's "
            "source (wrk whenever wrk ran, else Locust's peak), bars: min-max over rounds; "
            "right: sustainable throughput, bars: 95 % interval."
        )
        title = "Throughput and sustainable throughput"
        return [_finish(fig, out, f"compare-{base.run_id}", title, caption)]
