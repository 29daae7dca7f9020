"""The model-cost sweep, read and drawn: when does the framework stop mattering?

``sweep.json`` (``loadtests.bench.sweep.Sweep``) holds, per model cost and round, each
target's wrk throughput on ``/predict`` and the p99 of a ``GET /health`` probe sent
meanwhile, and each FastAPI:Flask pair's throughput ratio per round. Here the ratios of
the undisturbed rounds get their median and 95 % bootstrap interval
(``loadtests.common.stats``), the costs are ordered by the model's measured CPU time, and
``sweep_figure`` draws both panels: the ratio against model cost, and the /health p99
under load (an ``async def`` handler running a CPU-bound model blocks its event loop).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from loadtests.bench.sweep import Sweep
from loadtests.common.stats import DASH, TIE_BAND, Interval, interval, verdict_word
from loadtests.report.style import MARKERS, STYLE, inline_svg

SPARE_COLOURS = ("#999999", "#882255", "#44AA99", "#332288", "#F0E442")
MIN_COST_US = 0.1  # a log axis cannot show 0 µs


@dataclass(frozen=True)
class Cost:
    """One model cost of the sweep: its backend name and one predict's CPU time."""

    name: str
    model_us: float | None


@dataclass(frozen=True)
class PairPoint:
    """One pair's FastAPI:Flask throughput ratio at one cost, over the undisturbed rounds."""

    pair: str
    label: str
    numerator: str
    denominator: str
    cost: str
    iv: Interval
    word: str  # what the interval supports: faster, slower, tie, undecided
    left_out: int  # rounds disturbed (or, rarely, without a ratio: a zero denominator)


@dataclass(frozen=True)
class HealthPoint:
    """One target's /health p99 (ms) while /predict was loaded, over the undisturbed rounds."""

    target: str
    cost: str
    iv: Interval
    errors: int  # probes that got no 200


@dataclass(frozen=True)
class SweepChart:
    """The drawn sweep: inline SVG for the HTML, a PNG (path relative to the run) for Markdown."""

    title: str
    caption: str
    svg: str
    png: str


def costs(sweep: Sweep) -> list[Cost]:
    """Return the measured costs, cheapest model first (unmeasured ones last, as run)."""
    found = [c for c in sweep.settings.costs if any(v.cost == c for v in sweep.visits)]
    listed = [Cost(c, sweep.model_us.get(c)) for c in found]
    return sorted(listed, key=lambda c: (c.model_us is None, c.model_us or 0.0))


def pair_points(sweep: Sweep) -> list[PairPoint]:
    """Return each pair's ratio interval per cost (pairs in the file's order)."""
    out = []
    pairs = {r.pair: r for r in sweep.ratios}
    for cost in costs(sweep):
        for pair, first in pairs.items():
            rows = [r for r in sweep.ratios if r.pair == pair and r.cost == cost.name]
            if not rows:
                continue
            kept = [r.ratio for r in rows if r.ratio is not None and not r.disturbed]
            iv = interval(kept)
            out.append(
                PairPoint(
                    pair=pair,
                    label=first.label,
                    numerator=first.numerator,
                    denominator=first.denominator,
                    cost=cost.name,
                    iv=iv,
                    word=verdict_word(iv).word,
                    left_out=len(rows) - len(kept),
                )
            )
    return out


def health_points(sweep: Sweep) -> list[HealthPoint]:
    """Return each target's /health p99 under load per cost (undisturbed rounds)."""
    out = []
    for cost in costs(sweep):
        for target in sweep.settings.targets:
            visits = [v for v in sweep.visits if v.cost == cost.name and v.target == target]
            if not visits:
                continue
            kept = [v.health_p99_ms for v in visits if not v.disturbed]
            iv = interval(p for p in kept if p is not None)
            out.append(HealthPoint(target, cost.name, iv, sum(v.health_errors for v in visits)))
    return out


def settles_from(sweep: Sweep) -> Cost | None:
    """Return the cheapest cost from which every pair's interval lies inside the tie band
    at that cost and every dearer one (None: not within the costs measured)."""
    points = pair_points(sweep)
    pairs = {p.pair for p in points}
    found: Cost | None = None
    for cost in reversed(costs(sweep)):
        here = {p.pair: p for p in points if p.cost == cost.name}
        if not pairs or set(here) != pairs or any(p.word != "tie" for p in here.values()):
            break
        found = cost
    return found


def _colour_map(sweep: Sweep, colours: Mapping[str, str]) -> dict[str, str]:
    """Return a colour per target: summary.json's where known, else a spare one."""
    spare = iter(SPARE_COLOURS * 4)
    out = {}
    for name in sweep.settings.targets:
        given = colours.get(name)
        out[name] = given if given and given != "#000000" else next(spare)
    return out


def _marker(sweep: Sweep, target: str) -> str:
    """Return the marker of a target's server, so that no line relies on colour alone."""
    info = sweep.targets.get(target)
    return MARKERS.get(info.server if info else "", "D")


def _cost_label(cost: Cost) -> str:
    us = f"{cost.model_us:,.0f} µs" if cost.model_us is not None else "? µs"
    return f"{us} ({cost.name})"


def sweep_figure(sweep: Sweep, colours: Mapping[str, str] | None = None) -> Figure:
    """Draw the FastAPI:Flask throughput ratio and the /health p99 under load against model
    cost (log x); each pair in its FastAPI target's colour, each target in its own."""
    palette = _colour_map(sweep, colours or {})
    listed = [c for c in costs(sweep) if c.model_us is not None]
    x_of = {c.name: max(c.model_us or 0.0, MIN_COST_US) for c in listed}
    with plt.rc_context(STYLE):  # type: ignore[arg-type]  # rcParams keys typed as literals
        fig, (left, right) = plt.subplots(1, 2, figsize=(10.4, 5.0), layout="constrained")
        left.axhspan(
            *TIE_BAND,
            color="#eeeeee",
            zorder=0,
            label=f"tie band ({TIE_BAND[0]:.2f}{DASH}{TIE_BAND[1]:.2f})",
        )
        left.axhline(1.0, color="#888888", linewidth=0.8, zorder=1)
        points = [p for p in pair_points(sweep) if p.cost in x_of and p.iv.median is not None]
        for pair in dict.fromkeys(p.pair for p in points):
            mine = [p for p in points if p.pair == pair]
            xs = [x_of[p.cost] for p in mine]
            ys = [p.iv.median or 0.0 for p in mine]
            colour = palette.get(mine[0].numerator, "#333333")
            label = f"{mine[0].label}: {mine[0].numerator} : {mine[0].denominator}"
            left.plot(xs, ys, marker=_marker(sweep, mine[0].numerator), color=colour, label=label)
            with_ci = [p for p in mine if p.iv.low is not None and p.iv.high is not None]
            if with_ci:
                left.fill_between(
                    [x_of[p.cost] for p in with_ci],
                    [p.iv.low or 0.0 for p in with_ci],
                    [p.iv.high or 0.0 for p in with_ci],
                    color=colour,
                    alpha=0.18,
                    linewidth=0,
                )
        left.set_title("FastAPI : Flask throughput (wrk on /predict), 95 % CI")
        left.set_ylabel("throughput ratio (FastAPI / Flask)")
        right_points = [h for h in health_points(sweep) if h.cost in x_of]
        for target in dict.fromkeys(h.target for h in right_points):
            probes = [h for h in right_points if h.target == target and h.iv.median is not None]
            if not probes:
                continue
            right.errorbar(
                [x_of[h.cost] for h in probes],
                [h.iv.median or 0.0 for h in probes],
                yerr=_yerr(probes),
                marker=_marker(sweep, target),
                capsize=2,
                color=palette[target],
                label=target,
                linewidth=1.4,
            )
        right.set_yscale("log")
        right.set_title("GET /health p99 while /predict is loaded")
        right.set_ylabel("/health p99 (ms, log)")
        for ax in (left, right):
            ax.set_xscale("log")
            ax.set_xticks(
                [x_of[c.name] for c in listed],
                [_cost_label(c) for c in listed],
                rotation=35,
                ha="right",
                rotation_mode="anchor",
            )
            ax.minorticks_off()
            ax.set_xlabel("model cost: CPU time of one predict (log)")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=2 if ax is right else 1)
        if not points:
            left.text(0.5, 0.5, "no ratio measured", ha="center", transform=left.transAxes)
    return fig


def _yerr(points: list[HealthPoint]) -> list[list[float]]:
    """Return matplotlib's [below, above] error lengths (0 where there is no interval)."""
    below, above = [], []
    for h in points:
        mid = h.iv.median or 0.0
        below.append(mid - h.iv.low if h.iv.low is not None else 0.0)
        above.append(h.iv.high - mid if h.iv.high is not None else 0.0)
    return [below, above]


def draw_sweep(
    sweep: Sweep, run_dir: Path, out: Path, colours: Mapping[str, str] | None = None
) -> SweepChart:
    """Draw the sweep, write out/sweep.png and return the chart (PNG path relative to run_dir)."""
    fig = sweep_figure(sweep, colours)
    try:
        out.mkdir(parents=True, exist_ok=True)
        png = out / "sweep.png"
        fig.savefig(png, format="png", dpi=110, bbox_inches="tight")
        svg = inline_svg(fig, "c-sweep")
    finally:
        plt.close(fig)
    try:
        shown = png.relative_to(run_dir).as_posix()
    except ValueError:
        shown = png.as_posix()
    return SweepChart(
        title="FastAPI:Flask throughput ratio and /health p99 against model cost",
        caption=(
            "Left: FastAPI:Flask throughput ratio (wrk, closed loop on POST /predict) against "
            "the model's CPU time per predict, median of the undisturbed rounds with its 95 % "
            "bootstrap interval (band); grey: the tie band. Right: p99 of a GET /health probe "
            "sent at a fixed rate meanwhile, timed from the intended send, per target."
        ),
        svg=svg,
        png=shown,
    )
