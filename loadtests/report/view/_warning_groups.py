"""Gather the warnings the reader of a run's report must see, in titled groups."""

from __future__ import annotations

import statistics
from typing import Any

from loadtests.bench.noise import STEAL_LIMIT_PCT
from loadtests.bench.results import LG_LIMIT_PCT, SATURATION_LIMIT_PCT, SEND_LAG_LIMIT_MS
from loadtests.common.stats import MIN_ROUNDS
from loadtests.report.format import DASH, TIMES, fmt
from loadtests.report.load import (
    LOCUST_WRK_TOLERANCE,
    SPREAD_WARN_LATENCY,
    SPREAD_WARN_RPS,
    Run,
    all_phases,
    number,
    relative_spread,
)

SATURATED_PCT = 75.0  # a peak with the server below this CPU % of a core is not its limit

RUN, FLAGGED, INVALID, SPREAD, WRK, IDLE, OTHER = (
    "Run",
    "Flagged rounds, left out of every verdict",
    "Invalid figures (load generator without headroom)",
    "Wide spread over rounds",
    "Locust and wrk disagree by more than 10 %",
    "Server not saturated at its peak",
    "Other flags raised by the run",
)
WARNING_NOTES = {
    FLAGGED: f"The hypervisor stole more than {STEAL_LIMIT_PCT:g} % of a core during the round: "
    "the round's figures are shown, but no ratio uses them.",
    INVALID: f"The busiest load-generator process was above {LG_LIMIT_PCT:.0f} % of its core "
    f"(or, open loop, its send lag p99 above {SEND_LAG_LIMIT_MS:g} ms), or during a wrk pass "
    f"the server got less than {SATURATION_LIMIT_PCT:g} % of its cores: such a figure "
    "measures the load generator or the machine, not the server. Shown greyed (a left-out "
    "wrk pass is named under the target's flags), never used in a verdict.",
    SPREAD: f"(max - min) / median over rounds above {SPREAD_WARN_RPS:.0%} (req/s) or "
    f"{SPREAD_WARN_LATENCY:.0%} (p99): a difference smaller than the spread is noise.",
    WRK: "Locust's peak against wrk at the same number of connections: the lower of the two "
    "may be limited by its own generator; check the load-generator CPU.",
    IDLE: f"The server used under {SATURATED_PCT:.0f} % of a core at its best sweep level: "
    "something else (the load generator, other processes on the machine, too few levels) "
    "held it back, so the peak is a lower bound on the server's capacity.",
}


def _values_spread(values: list[float]) -> float | None:
    """Return (max - min) / median of per-round values (None with fewer than two)."""
    if len(values) < 2 or not statistics.median(values):
        return None
    return (max(values) - min(values)) / statistics.median(values)


def warnings(run: Run) -> list[dict[str, Any]]:
    """Return the warnings the reader must see, grouped: [{title, note, items}]."""
    settings = run.summary.get("settings") or {}
    groups: dict[str, list[str]] = {g: [] for g in (RUN, FLAGGED, INVALID, SPREAD, WRK, IDLE)}
    groups[OTHER] = []
    status = run.summary.get("status")
    if status != "complete":
        error = run.summary.get("error")
        groups[RUN].append(
            f"the run's status is {status!r}{f' ({error})' if error else ''}: figures are partial"
        )
    if settings.get("quick"):
        groups[RUN].append(
            f"quick run ({settings.get('duration_s')} s phases): indicative, not a benchmark"
        )
    used = len(run.rounds) - len(run.excluded_rounds)
    if used < MIN_ROUNDS:
        groups[RUN].append(
            f"{used} usable round(s): at least {MIN_ROUNDS} are needed for an interval, "
            "so every comparison is undecided"
        )
    for r in run.excluded_rounds:
        groups[FLAGGED].append(f"round {r.round}: " + "; ".join(r.flags))
    for name, target in run.targets.items():
        if target.get("status") not in (None, "complete"):
            groups[RUN].append(f"{name}: {target.get('status')} ({target.get('error')})")
        for phase in all_phases(target):
            if not phase.get("valid", True):
                groups[INVALID].append(
                    f"{name}, {phase.get('phase')}: {phase.get('invalid_reason') or 'invalid'}"
                )
        curve = target.get("latency_curve") or []
        bad = [fmt(p["offered_rps"], "rps") for p in curve if not p.get("valid", True)]
        if bad:
            groups[INVALID].append(
                f"{name}, ladder at {', '.join(bad)} req/s ({len(bad)} of {len(curve)} rates): "
                "not valid in every round (load generator without headroom or late to send)"
            )
        peak = target.get("peak")
        spread = relative_spread(peak, "rps")
        if peak and spread is not None and spread > SPREAD_WARN_RPS:
            low, high = peak["spread"]["rps"]
            groups[SPREAD].append(
                f"{name}, peak req/s: {fmt(low, 'rps')}{DASH}{fmt(high, 'rps')} over "
                f"{peak.get('repeats')} rounds ({spread:.0%} of the median)"
            )
        sustained = target.get("sustainable_rps") or {}
        values = [v for v in (sustained.get("values") or {}).values() if v is not None]
        spread = _values_spread(values)
        if spread is not None and spread > SPREAD_WARN_RPS:
            groups[SPREAD].append(
                f"{name}, sustainable req/s: {fmt(min(values), 'rps')}{DASH}"
                f"{fmt(max(values), 'rps')} over {len(values)} rounds ({spread:.0%} of the median)"
            )
        cpu = (peak or {}).get("server_cpu_pct")
        if cpu is not None and cpu < SATURATED_PCT:
            groups[IDLE].append(
                f"{name}: {cpu:.0f} % of a core at {fmt((peak or {}).get('rps'), 'rps')} req/s "
                f"(c={(peak or {}).get('users')})"
            )
        vs_wrk = number(target.get("locust_vs_wrk"))
        if vs_wrk is not None and abs(vs_wrk - 1) > LOCUST_WRK_TOLERANCE:
            wrk = target.get("wrk") or {}
            groups[WRK].append(
                f"{name}: Locust's peak {fmt((peak or {}).get('rps'), 'rps')} req/s is "
                f"{vs_wrk:.2f}{TIMES} wrk's {fmt(wrk.get('rps'), 'rps')} req/s at "
                f"{wrk.get('connections')} connections"
            )
        for flag in target.get("flags") or []:
            if not flag.startswith(("load_generator_bound", "Locust peak is")):
                groups[OTHER].append(f"{name}: {flag}")
    names = tuple(f"{n}: " for n in run.summary.get("targets") or {})
    for text in run.summary.get("warnings") or []:
        if not text.startswith((*names, "round ")):  # rounds: in their own group
            groups[OTHER].append(text)
    return [
        {"title": k, "note": WARNING_NOTES.get(k, ""), "items": v} for k, v in groups.items() if v
    ]
