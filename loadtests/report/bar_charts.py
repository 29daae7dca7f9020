"""Draw the bar charts of the report: sustainable rate, cost split, server grid, error path."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from loadtests.report.load import Data, Run, number, ranked_source, spread_of
from loadtests.report.style import INVALID_GREY, colours, error_bar, no_data

# The CPU split of a request: the parts add up to the server's CPU per request under load.
PARTS = (
    ("model_us", "model (ONNX)", "#0072B2"),
    ("validation_us", "validation", "#009E73"),
    ("framework_us", "framework (in-process)", "#E69F00"),
    ("server_kernel_us", "server and kernel (the rest under load)", "#BBBBBB"),
)
NEGATIVE = "crossed out: a negative part (in-process CPU above the server's per request)"
# Wall time, not additive: one in-process request, and one request over HTTP at one user.
WALL = (
    ("in_process_us", "in-process request", "#CC79A7"),
    ("http_p50_us", "HTTP p50, one user (Locust)", "#777777"),
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
    """Draw the CPU per request as stacked parts that add up to the server's CPU under load,
    and beside it the wall time of one request in-process and over HTTP (not additive)."""
    rows = [(n, t["decomposition"]) for n, t in run.targets.items() if t.get("decomposition")]
    legend_in = 0.8  # three rows of legend below the panels
    height = 0.42 * max(len(rows), 2) + 1.4 + legend_in
    fig, (cpu_ax, wall_ax) = plt.subplots(
        1, 2, figsize=(9.6, height), sharey=True, width_ratios=[1.4, 1]
    )
    if not rows:
        for ax in (cpu_ax, wall_ax):
            no_data(ax, "no in-process benches in this run")
        return fig
    names = [n for n, _ in rows][::-1]
    cpu = [d.get("cpu") or {} for _, d in rows][::-1]
    if any(cpu):
        _cpu_bars(cpu_ax, cpu)
    else:
        no_data(cpu_ax, "no CPU clock in this run (an older run): wall time only")
    cpu_ax.set_title("CPU per request (adds up to the server's, under load)")
    cpu_ax.set_xlabel("CPU µs per request")
    wall = [d for _, d in rows][::-1]
    for k, (key, label, c) in enumerate(WALL):
        ys = [y + (k - 0.5) * 0.36 for y in range(len(names))]
        values = [max(number(d.get(key)) or 0.0, 0.0) for d in wall]
        wall_ax.barh(ys, values, 0.34, color=c, label=label, edgecolor="white")
        for y, v in zip(ys, values, strict=True):
            if v:
                wall_ax.text(v, y, f" {v:,.0f}", va="center", fontsize=7)
    wall_ax.set_yticks(range(len(names)), names)
    wall_ax.set_title("wall per request (not additive)")
    wall_ax.set_xlabel("wall µs per request")
    for ax in (cpu_ax, wall_ax):
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.14)
    # Proxies, not the bars: a bar's legend entry copies its first row, which may be a
    # crossed-out negative part.
    handles = [Patch(facecolor=c, label=label) for _, label, c in PARTS] if any(cpu) else []
    if any((number(d.get(key)) or 0.0) < 0 for d in cpu for key, *_ in PARTS):
        handles.append(Patch(facecolor="none", edgecolor="#444", hatch="xx", label=NEGATIVE))
    handles += [Patch(facecolor=c, label=label) for _, label, c in WALL]
    fig.legend(handles=handles, loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, legend_in / height, 1, 1))
    return fig


def _cpu_bars(ax: Axes, cpu: list[Data]) -> None:
    """Stack model, validation, framework and the server's rest, one row per target; a
    negative part (the in-process call costing more CPU than a request under load) is drawn
    hatched, back from where the parts before it end, so every row ends at its total."""
    lefts = [0.0] * len(cpu)
    for key, label, c in PARTS:
        widths = [number(d.get(key)) or 0.0 for d in cpu]
        starts = [left + min(w, 0.0) for left, w in zip(lefts, widths, strict=True)]
        ax.barh(
            range(len(cpu)),
            [abs(w) for w in widths],
            left=starts,
            # a negative part crosses out the end of the parts before it
            color=[c if w >= 0 else "none" for w in widths],
            label=label,
            edgecolor=["white" if w >= 0 else "#444" for w in widths],
            height=0.6,
            hatch=["xx" if w < 0 else "" for w in widths],
        )
        lefts = [left + w for left, w in zip(lefts, widths, strict=True)]
    for y, d in enumerate(cpu):
        total = number(d.get("server_us"))
        shown = total if total is not None else number(d.get("in_process_us"))
        if shown is not None:
            ax.plot([shown, shown], [y - 0.36, y + 0.36], color="#222", linewidth=1.2)
            note = "" if total is not None else " in-process (no server CPU)"
            ax.text(
                max(shown, number(d.get("in_process_us")) or 0.0),
                y,
                f" {shown:,.0f}{note}",
                va="center",
                fontsize=8,
            )


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
