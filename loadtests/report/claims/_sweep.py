"""The model-cost sweep's finding: from which model cost the framework stops mattering."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loadtests.bench.sweep import Sweep
from loadtests.common.runfiles import Summary
from loadtests.common.stats import DASH, TIE_BAND
from loadtests.report.claims._rows import fact, ratio_text, row
from loadtests.report.sweep_chart import (
    costs,
    draw_sweep,
    health_points,
    pair_points,
    settles_from,
)

SWEEP_FILE = "sweep.json"


def sweep_view(run_dir: Path, summary: Summary, chart_dir: Path) -> dict[str, Any]:
    """Return the sweep's ratios and /health p99 per cost, its sentence and its chart."""
    if not (run_dir / SWEEP_FILE).is_file():
        return {
            "measured": False,
            "sentence": "Not measured in this run: `make sweep`.",
            "command": "make sweep",
        }
    sweep = Sweep.read(run_dir)
    listed = costs(sweep)
    settled = settles_from(sweep)
    low, high = TIE_BAND
    if settled is None:
        sentence = (
            f"Where the framework stops mattering: not within the costs measured (up to "
            f"{_us(listed[-1].model_us)} per predict), no cost from which every FastAPI:Flask "
            f"pair's 95 % interval lies inside {low:.2f}{DASH}{high:.2f}."
            if listed
            else "The sweep measured no cost."
        )
    else:
        sentence = (
            f"The framework stops mattering from a model of about {_us(settled.model_us)} "
            f"per predict (`{settled.name}`): from there on every FastAPI:Flask pair's 95 % "
            f"interval lies inside {low:.2f}{DASH}{high:.2f}."
        )
    colours = {n: t.colour for n, t in summary.targets.items()}
    chart = draw_sweep(sweep, run_dir, chart_dir, colours)
    pairs = pair_points(sweep)
    health = health_points(sweep)
    pair_names = list(dict.fromkeys((p.pair, p.label, p.numerator, p.denominator) for p in pairs))
    targets = list(dict.fromkeys(h.target for h in health))
    table = []
    for cost in listed:
        here = {p.pair: p for p in pairs if p.cost == cost.name}
        probes = {h.target: h for h in health if h.cost == cost.name}
        table.append(
            {
                "cost": cost.name,
                "model_us": cost.model_us,
                "model_us_text": _us(cost.model_us),
                "ratios": [_pair_cell(here.get(name), cost.name) for name, *_ in pair_names],
                "health": [_health_cell(probes.get(t), cost.name) for t in targets],
            }
        )
    return {
        "measured": True,
        "status": sweep.status,
        "rounds": sweep.settings.rounds,
        "connections": sweep.settings.connections,
        "sentence": sentence,
        "settled_cost": settled.name if settled else None,
        "settled_us": settled.model_us if settled else None,
        "pairs": [
            {"pair": p, "label": label, "numerator": n, "denominator": d}
            for p, label, n, d in pair_names
        ],
        "targets": targets,
        "table": table,
        "chart": {
            "title": chart.title,
            "caption": chart.caption,
            "svg": chart.svg,
            "png": chart.png,
        },
    }


def _us(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f} µs"


def _pair_cell(p: Any, cost: str) -> dict[str, Any]:
    if p is None:
        return {"text": DASH, "word": "", "value": None, "key": ""}
    rounds = p.iv.n + p.left_out
    text = ratio_text(p.iv.median)
    if p.iv.low is not None and p.iv.high is not None:
        text += f" ({p.iv.low:.2f}{DASH}{p.iv.high:.2f})"
    elif p.iv.n == 0:
        text += f" (no usable round of {rounds}: disturbed)"
    else:
        text += f" ({p.iv.n} of {rounds} rounds: no interval)"
    return {
        "text": text,
        "word": p.word,
        "value": p.iv.median,
        "key": f"sweep.{cost}.{p.pair}.ratio",
    }


def _health_cell(h: Any, cost: str) -> dict[str, Any]:
    if h is None or h.iv.median is None:
        return {"text": DASH, "value": None, "key": ""}
    return {
        "text": f"{h.iv.median:,.1f}",
        "value": h.iv.median,
        "key": f"sweep.{cost}.{h.target}.health_p99_ms",
    }


def sweep_row(sweep: Mapping[str, Any]) -> dict[str, Any]:
    """Return the row "When does the framework matter?" (a finding, not an article claim)."""
    claim = "(implied) The choice of framework decides how fast the model is served."
    measured = [fact(sweep["sentence"], "sweep" if sweep["measured"] else None)]
    if not sweep["measured"]:
        return row("sweep", "Model cost", claim, measured, "not_measured", "run `make sweep`.")
    if sweep["settled_cost"] is None:
        last = sweep["table"][-1]["model_us_text"] if sweep["table"] else DASH
        verdict = f"no model cost measured (up to {last}) makes every pair a tie."
        return row("sweep", "Model cost", claim, measured, "finding", verdict)
    verdict = (
        f"the model costs less than about {_us(sweep['settled_us'])} per "
        "predict; from there on the framework is a tie."
    )
    return row("sweep", "Model cost", claim, measured, "holds_only_when", verdict)
