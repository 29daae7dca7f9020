"""Lay out a run's tables for the templates: headline, pair ratios and rounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtests.report.format import DASH, Cell, cell, comparison_cell, fmt, sustainable_cell
from loadtests.report.load import Data, Run, common_rate, curve_index, ranked_source

RATIO_FIGURES: tuple[tuple[str, str], ...] = (
    # (Comparison.figure, heading); a ratio is numerator / denominator
    ("throughput", "peak req/s"),
    ("sustainable", "sustainable req/s"),
    ("p99", "p99 at the pair's rung"),
    ("p50", "p50 at the pair's rung"),
    ("cpu_per_request", "CPU / req"),
)
# The CPU split's columns, in the order the parts add up (CpuDecomposition).
CPU_PARTS = ("model_us", "validation_us", "framework_us", "server_kernel_us", "server_us")
COMPARED: tuple[tuple[str, str, str], ...] = (
    # (key under the target, unit, heading): the figures two runs are compared on
    ("peak.rps", "rps", "peak req/s (Locust)"),
    ("wrk.rps", "rps", "wrk req/s"),
    ("sustainable_rps.median", "rps", "sustainable req/s"),
    ("invalid_mix.error_rate", "pct", "invalid-mix errors"),
    ("derived.cpu_us_per_request", "us", "CPU µs / req"),
    ("derived.peak_rss_mb", "mb", "peak RSS MiB"),
)


# The headings of the two closed-loop throughput figures: the verdict's source comes first,
# the other tool beside it as context (ranked_source).
THROUGHPUT_HEADINGS = {"wrk": "wrk req/s", "peak": "peak req/s (Locust)"}


def describe(target: Data) -> str:
    """Return a target's framework, server and handler in words (its label in summary.json)."""
    return str(target.get("label") or target.get("name") or "?")


@dataclass(frozen=True)
class Column:
    """One headline column: the key under each target, its unit and heading."""

    key: str
    unit: str
    heading: str


def headline_columns(run: Run) -> list[Column]:
    """Return the headline's columns (the p99 column names the run's common ladder rate)."""
    rate = common_rate(run)
    slo = (run.summary.get("settings") or {}).get("slo_ms")
    at = f"at {rate:,.0f} req/s" if rate is not None else "at the curve's lowest rate"
    bound = f" (p99 ≤ {slo:g} ms)" if slo else ""
    source = ranked_source(run)
    return [
        Column(f"{source.phase}.rps", "rps", THROUGHPUT_HEADINGS[source.phase]),
        Column(
            f"{source.context_phase}.rps",
            "rps",
            f"{THROUGHPUT_HEADINGS[source.context_phase]} · context",
        ),
        Column("sustainable_rps.median", "rps", f"sustainable req/s{bound}"),
        Column("latency_curve@.p99_ms", "ms", f"p99 ms {at}"),
        Column("invalid_mix.error_rate", "pct", "invalid-mix errors"),
        Column("derived.bad_5xx", "count", "bad bodies → 5xx"),
        Column("derived.cpu_us_per_request", "us", "CPU µs / req"),
        Column("derived.peak_rss_mb", "mb", "peak RSS MiB"),
    ]


def headline_cell(run: Run, name: str, column: Column) -> Cell:
    """Return one headline figure of a target."""
    if column.key == "sustainable_rps.median":
        return sustainable_cell(run, name)
    if column.key.startswith("latency_curve@"):
        index = curve_index(run.targets[name], common_rate(run))
        if index is None:
            return Cell("", column.unit, None, DASH)
        return cell(run, f"{name}.latency_curve.{index}.p99_ms", column.unit)
    return cell(run, f"{name}.{column.key}", column.unit)


def headline(run: Run) -> list[dict[str, Any]]:
    """Return one headline row per target: its cells in headline_columns order."""
    columns = headline_columns(run)
    rows = []
    for name, target in run.targets.items():
        peak = target.get("peak") or {}
        rows.append(
            {
                "name": name,
                "label": describe(target),
                "status": target.get("status"),
                "level": peak.get("users"),
                "cells": [headline_cell(run, name, c) for c in columns],
            }
        )
    return rows


def ratio_rows(run: Run, kind: str) -> list[dict[str, Any]]:
    """Return the pair rows of one kind ("framework" or "other") from the run's comparisons."""
    rows = []
    for pair in run.pairs:
        if pair.kind != kind or not {pair.numerator, pair.denominator} <= set(run.targets):
            continue
        comps = {fig: run.comparison(pair.name, fig) for fig, _ in RATIO_FIGURES}
        if not any(comps.values()):
            continue
        cells = [comparison_cell(f"comparison.{pair.name}.{f}", comps[f]) for f, _ in RATIO_FIGURES]
        throughput = comps["throughput"]
        rows.append(
            {
                "pair": pair,
                "cells": cells,
                "source": throughput.source if throughput else "",
                "left_out": sorted(throughput.left_out) if throughput else [],
            }
        )
    return rows


def rounds_table(run: Run) -> list[dict[str, Any]]:
    """Return one row per round: wall time, calibration before/after, drift, steal, flags."""
    out = []
    for r in run.rounds:
        before, after = r.calibration_before, r.calibration_after
        out.append(
            {
                "round": r.round,
                "wall_s": "" if r.wall_s is None else f"{r.wall_s:,.1f}",
                "before": fmt(before.best_ms if before else None, "ms"),
                "after": fmt(after.best_ms if after else None, "ms"),
                "drift": DASH if r.drift is None else f"{r.drift * 100:+.1f} %",
                "steal": DASH if r.steal_pct is None else f"{r.steal_pct:.1f} %",
                "flags": r.flags,
                "excluded": r.excluded,
            }
        )
    return out


def rung_rows(run: Run) -> list[dict[str, Any]]:
    """Return per target its pooled rungs: rate, why measured, answers, decision; and its steps
    left out of a decision (send lag), with why."""
    out = []
    for name, target in run.targets.items():
        rungs = target.get("rungs") or []
        if not rungs:
            continue
        left_out = [
            f"{rung['offered_rps']:g} req/s, round {r['round']}: {r['invalid_reason']}"
            for rung in rungs
            for r in rung.get("rounds") or []
            if not r.get("valid", True)
        ]
        steps = sum(len(rung.get("rounds") or []) for rung in rungs)
        out.append(
            {
                "name": name,
                "knee": target.get("knee_rps"),
                "rungs": [
                    {
                        "rate": rung["offered_rps"],
                        "roles": ", ".join(rung.get("roles") or []),
                        "rounds": len(rung.get("pooled_rounds") or []),
                        "answers": rung.get("answers"),
                        "over": rung.get("over"),
                        "p99": fmt(rung.get("p99_ms"), "ms"),
                        "p99_early": fmt(rung.get("p99_early_ms"), "ms"),
                        "decision": rung.get("decision"),
                        "reason": rung.get("reason"),
                    }
                    for rung in rungs
                ],
                "steps": steps,
                "left_out": left_out,
                "notes": target.get("ladder_notes") or [],
            }
        )
    return out


def decomposition_rows(run: Run) -> list[dict[str, Any]]:
    """Return each target's CPU split (None in a run before the CPU clock) and wall figures."""
    rows = []
    for name, target in run.targets.items():
        split = target.get("decomposition")
        if not split:
            continue
        cpu = split.get("cpu")
        server = (cpu or {}).get("server_us")
        rows.append(
            {
                "name": name,
                "cpu": cpu,
                "model_share": f"{100 * cpu['model_us'] / server:.1f} %" if server else DASH,
                "in_process_us": split.get("in_process_us"),
                "http_p50_us": split.get("http_p50_us"),
            }
        )
    return rows
