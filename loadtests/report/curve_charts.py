"""Draw the curves of the report: throughput against concurrency, latency against rate."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from loadtests.report.load import Run, number, spread_of
from loadtests.report.style import INVALID_GREY, colours, error_bar, marker, no_data

LATENCY_KEYS = (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9"))


def throughput(run: Run, order: list[str]) -> Figure:
    """Draw throughput against concurrency per target, with spread, wrk and bound marks."""
    fig, ax = plt.subplots(figsize=(9.0, 3.8))
    bound_drawn = wrk_drawn = False
    for name, target in run.targets.items():
        sweep = [p for p in target.get("sweep") or [] if p.get("rps") is not None]
        if not sweep:
            continue
        c, m = colours(run)[name], marker(target)
        xs = [p["users"] for p in sweep]
        ys = [p["rps"] for p in sweep]
        ax.plot(xs, ys, color=c, marker=m, label=name, linewidth=1.6, markersize=5)
        for p in sweep:
            pair = spread_of(p, "rps")
            if pair:
                ax.errorbar(
                    p["users"], p["rps"], yerr=error_bar(p["rps"], pair), color=c, capsize=3
                )
            if not p.get("valid", True) or p.get("load_generator_bound"):
                label = None if bound_drawn else "invalid (load generator without headroom)"
                ax.plot(
                    p["users"],
                    p["rps"],
                    "o",
                    markerfacecolor="white",
                    markeredgecolor=INVALID_GREY,
                    markeredgewidth=1.5,
                    markersize=9,
                    label=label,
                    zorder=3,
                )
                bound_drawn = True
        wrk = target.get("wrk") or {}
        if wrk.get("rps") and wrk.get("connections"):
            label = None if wrk_drawn else "wrk (same level)"
            ax.plot(wrk["connections"], wrk["rps"], "D", mfc="none", color=c, label=label)
            wrk_drawn = True
    if not ax.lines:
        no_data(ax)
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
    extra = ("wrk (same level)", "invalid (load generator without headroom)")
    ordered = sorted(zip(handles, labels, strict=True), key=lambda hl: hl[1] in extra)
    ax.legend(*zip(*ordered, strict=True), loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def latency(run: Run, order: list[str]) -> Figure:
    """Draw p50, p99 and p99.9 against the offered rate, one line per target (log scale)."""
    fig, axes = plt.subplots(1, 3, figsize=(10.0, 3.8), sharey=True, squeeze=False)
    palette = colours(run)
    curves = {n: t.get("latency_curve") or [] for n, t in run.targets.items()}
    if not any(curves.values()):
        for ax in axes[0]:
            no_data(ax, "no latency ladder in this run")
        return fig
    slo = number((run.summary.get("settings") or {}).get("slo_ms"))
    grey_drawn = False
    for ax, (key, title) in zip(axes[0], LATENCY_KEYS, strict=True):
        for name, curve in curves.items():
            points = sorted(
                (float(p["offered_rps"]), float(p[key]), bool(p.get("valid", True)))
                for p in curve
                if number(p.get(key))
            )
            if not points:
                continue
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            ax.plot(
                xs,
                ys,
                color=palette[name],
                marker=marker(run.targets[name]),
                markersize=4,
                linewidth=1.4,
                label=name,
            )
            bad = [(x, y) for x, y, ok in points if not ok]
            if bad:
                label = None if grey_drawn else "invalid (greyed)"
                ax.plot(
                    *zip(*bad, strict=True),
                    "o",
                    color=INVALID_GREY,
                    markersize=7,
                    markeredgecolor="#666",
                    label=label,
                    zorder=3,
                )
                grey_drawn = True
        if slo:
            ax.axhline(
                slo,
                color="#333",
                linestyle=":",
                linewidth=1.1,
                label=f"latency bound (p99 ≤ {slo:g} ms)",
            )
        ax.set_title(f"{title}, from the intended send time")
        ax.set_xlabel("offered rate, req/s (Poisson arrivals)")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0][0].set_ylabel("latency, ms (log)")
    handles, labels = [], []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    names = set(run.targets)
    ordered = sorted(zip(handles, labels, strict=True), key=lambda hl: hl[1] not in names)
    fig.legend(*zip(*ordered, strict=True), loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig
