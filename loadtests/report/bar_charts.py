"""Draw the bar charts of the report: sustainable rate, cost split, server grid, error path."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from loadtests.report.load import Run, number, ranked_source, spread_of
from loadtests.report.style import INVALID_GREY, colours, error_bar, no_data

PARTS = (
    ("model_us", "model (ONNX)", "#0072B2"),
    ("validation_us", "validation", "#009E73"),
    ("framework_us", "framework (in-process)", "#E69F00"),
    ("server_network_us", "server, network and client", "#BBBBBB"),
)


def sustainable(run: Run, order: list[str]) -> Figure:
    """Draw each target's sustainable throughput with its 95 % interval over rounds."""
    rows = [
        (n, t["sustainable_rps"])
        for n, t in run.targets.items()
        if t.get("sustainable_rps") and number(t["sustainable_rps"].get("median"))
    ]
    fig, ax = plt.subplots(figsize=(9.0, 3.4))
    if not rows:
        no_data(ax, "no sustainable throughput measured")
        return fig
    palette = colours(run)
    open_drawn = False
    for k, (name, s) in enumerate(rows):
        mid = float(s["median"])
        ax.bar(
            k,
            mid,
            0.6,
            color=palette[name],
            edgecolor="white",
            hatch="//" if s.get("at_least") else "",
        )
        low, high = number(s.get("low")), number(s.get("high"))
        if low is not None and high is not None:
            ax.errorbar(
                k,
                mid,
                yerr=[[max(mid - low, 0.0)], [max(high - mid, 0.0)]],
                color="#333",
                capsize=4,
            )
        top = max(mid, high or 0.0)
        if s.get("at_least"):
            label = None if open_drawn else "at least (the top rung still passed)"
            ax.plot(k, top, "^", color="#333", markersize=8, label=label)
            open_drawn = True
        text = ("≥" if s.get("at_least") else "") + f"{mid:,.0f}"
        ax.text(k, top, f"{text}\n", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(rows)), [n for n, _ in rows], rotation=30, ha="right")
    slo = (run.summary.get("settings") or {}).get("slo_ms")
    ax.set_ylabel(f"req/s with p99 ≤ {slo:g} ms" if slo else "sustainable req/s")
    ax.grid(axis="x", visible=False)
    ax.margins(y=0.2)
    if open_drawn:
        ax.legend(loc="upper right")
    return fig


def decomposition(run: Run, order: list[str]) -> Figure:
    """Draw the per-request cost split as stacked bars: in-process zoom, then the HTTP whole."""
    rows = [(n, t["decomposition"]) for n, t in run.targets.items() if t.get("decomposition")]
    height = 0.42 * max(len(rows), 2) + 1.4
    fig, axes = plt.subplots(1, 2, figsize=(9.6, height), sharey=True, width_ratios=[1, 1.4])
    if not rows:
        for ax in axes:
            no_data(ax, "no in-process benches in this run")
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
    """Draw throughput by server, one bar per framework (validated def handlers), from the
    verdict's source; the other tool's figure is a hollow mark beside it, context only."""
    servers = ["gunicorn", "uvicorn", "granian"]
    frameworks = ["flask", "fastapi"]
    source = ranked_source(run)
    fig, ax = plt.subplots(figsize=(8.0, 3.4))
    cells = {
        (t.get("framework"), t.get("server")): (n, t)
        for n, t in run.targets.items()
        if t.get("handler") == "def" and number((t.get(source.phase) or {}).get("rps"))
    }
    if not cells:
        no_data(ax)
        return fig
    width = 0.38
    context_drawn = False
    for i, framework in enumerate(frameworks):
        for j, server in enumerate(servers):
            x = j + (i - 0.5) * width
            if (framework, server) not in cells:
                ax.text(x, 0, "n/a", ha="center", va="bottom", color="#888", fontsize=8)
                continue
            name, target = cells[(framework, server)]
            phase = target[source.phase]
            rps, valid = float(phase["rps"]), phase.get("valid", True)
            ax.bar(
                x,
                rps,
                width,
                color=colours(run)[name] if valid else "white",
                hatch="" if framework == "flask" else "//",
                edgecolor="white" if valid else INVALID_GREY,
                label=name if valid else f"{name} (invalid)",
            )
            pair = spread_of(phase, "rps")
            if pair:
                ax.errorbar(x, rps, yerr=error_bar(rps, pair), color="#333", capsize=3)
            top = max(rps, pair[1] if pair else 0.0)
            context = number((target.get(source.context_phase) or {}).get("rps"))
            if context is not None:
                label = None if context_drawn else f"{source.context_tool} (context, not ranked)"
                ax.plot(x, context, "D", mfc="none", color="#555", markersize=5, label=label)
                context_drawn = True
            ax.text(x, top, f"{rps:,.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(servers)), servers)
    ax.set_ylabel(f"POST /predict req/s ({source.tool})")
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
        no_data(left)
        no_data(right)
        return fig
    xs = range(len(rows))
    for ax, key, label in ((left, "rps", "answered req/s"), (right, "p99_ms", "p99, ms")):
        for k, (name, valid, mix) in enumerate(rows):
            c = colours(run)[name]
            ax.bar(k - 0.2, valid.get(key) or 0, 0.4, color=c, edgecolor="white")
            ax.bar(k + 0.2, mix.get(key) or 0, 0.4, color=c, hatch="xx", alpha=0.55)
        ax.set_xticks(list(xs), [r[0] for r in rows], rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.grid(axis="x", visible=False)
    left.set_title("throughput: valid (solid) vs invalid mix (hatched)")
    right.set_title("p99 latency at the same level")
    fig.tight_layout()
    return fig
