"""Turn raw phase results into the figures of summary.json, and collect them per target."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadtests.bench.config import RunSettings
from loadtests.bench.summary import Figures, aggregate, decomposition, peak_of, ratio
from loadtests.common import hdr as _hdr
from loadtests.common.runfiles import (
    CurvePoint,
    DocsCheck,
    OverloadResult,
    Phase,
    RoundFigures,
    Step,
    Sustainable,
    TargetSummary,
)
from loadtests.common.stats import interval
from loadtests.loadgen.locust_phase import LocustResult, PhaseConfig
from loadtests.targets import TARGETS

PREDICT_TO_NOOP_GOAL = 0.85
LOCUST_WRK_TOLERANCE = 0.10
ERROR_KINDS_KEPT = 10
# A figure is valid only while the load generator had headroom (DESIGN section 4).
LG_LIMIT_PCT = 70.0  # the busiest load-generator process, percent of one core
SEND_LAG_LIMIT_MS = 1.0  # open loop: p99 of (actual send - intended send)


def validity(lg_cpu_pct: float | None, send_lag_p99_ms: float | None = None) -> str | None:
    """Return why a figure is invalid (None: valid): a busy generator measures itself."""
    if lg_cpu_pct is not None and lg_cpu_pct > LG_LIMIT_PCT:
        return f"load generator at {lg_cpu_pct:.0f} % of a core (limit {LG_LIMIT_PCT:.0f} %)"
    if send_lag_p99_ms is not None and send_lag_p99_ms > SEND_LAG_LIMIT_MS:
        return f"send lag p99 {send_lag_p99_ms:.2f} ms (limit {SEND_LAG_LIMIT_MS:g} ms)"
    return None


def latency(encoded: str | None, prefix: str = "") -> Figures:
    """Return the latency figures of an encoded histogram, keys optionally prefixed."""
    return {prefix + k: v for k, v in _hdr.figures(_hdr.merge([encoded])).items()}


def locust_figures(
    config: PhaseConfig,
    result: LocustResult,
    resources: Figures,
    files: dict[str, str],
    workers: int,
) -> Figures:
    """Return the figures of one Locust phase (closed loop, fixed rate or mix)."""
    duration = config["duration_s"]
    requests, failures = int(result["requests"]), int(result["failures"])
    completed = int(result["completed"])
    errors = Counter(result["errors"]).most_common(ERROR_KINDS_KEPT)
    figures: Figures = {
        "phase": config["phase"],
        "kind": config["kind"],
        "path": config["requests"][0]["path"],
        "users": config["users"],
        "locust_workers": workers,
        "duration_s": duration,
        "requests": requests,
        "completed": completed,
        "successes": requests - failures,
        "failures": failures,
        "incomplete": int(result["incomplete"]),
        "rps": round(completed / duration, 1),
        "good_rps": round((requests - failures) / duration, 1),
        "error_rate": round(failures / requests, 5) if requests else None,
        **latency(result["latency"]),
        "by_status": result["by_status"],
        "errors": dict(errors),
        **resources,
        "files": [files],
    }
    reason = validity(figures.get("lg_cpu_max_pct"))
    figures["valid"], figures["invalid_reason"] = reason is None, reason
    if config["bad_fraction"] > 0:
        figures["bad_fraction"] = config["bad_fraction"]
        figures["by_case"] = result["by_case"]
    return figures


def target_info(name: str, settings: RunSettings) -> dict[str, Any]:
    """Return what summary.json says a subject is: its table row, or the --url deployment."""
    if settings.url:
        return {
            "name": name,
            "label": name,
            "colour": "#000000",
            "framework": None,
            "handler": None,
            "server": None,
            "description": f"deployment at {settings.url}",
            "command": None,
            "url": settings.url,
            "locust_workers": settings.locust_workers,
        }
    target = TARGETS[name]
    return {
        "name": name,
        "label": target.label,
        "colour": target.colour,
        "framework": target.framework,
        "handler": target.handler,
        "server": target.server,
        "description": target.description,
        "command": target.command(workers=settings.server_workers),
        "url": None,
        "locust_workers": settings.locust_workers,
    }


@dataclass(frozen=True)
class Sustained:
    """One round's sustainable rate: None when even the first rung failed."""

    rate: float | None
    valid: bool  # decided by valid steps only
    at_least: bool  # the top rung passed: the true figure may be higher


class TargetRecord:
    """Everything measured for one target, kept per round until summarised."""

    def __init__(self, info: dict[str, Any], slo_ms: float) -> None:
        self.info = info
        self.slo_ms = slo_ms
        self.sections: dict[str, dict[Any, list[Figures]]] = defaultdict(lambda: defaultdict(list))
        self.peaks: list[Figures] = []
        self.level: int | None = None  # the closed-loop level of the peak, found in round 1
        self.status = "pending"
        self.error: str | None = None
        self.repeats = 0  # rounds completed
        self.overload: OverloadResult | None = None
        self.docs: DocsCheck | None = None
        self.per_round: dict[int, RoundFigures] = {}
        self.steps: list[Step] = []
        self.sustainable: dict[int, tuple[float | None, bool, bool]] = {}  # rate, valid, at least

    def add(self, section: str, figures: Figures, key: Any = None) -> None:
        """Keep one phase's figures (key: the level of a sweep)."""
        Phase.model_validate(figures)  # a key the file format does not know fails here
        self.sections[section][key].append(figures)

    def measured(self) -> bool:
        """Tell whether any phase of this target has figures."""
        return bool(self.steps) or any(
            runs for section in self.sections.values() for runs in section.values()
        )

    def round_figures(self, rnd: int) -> RoundFigures:
        """Return (creating it) the figures of this target in round rnd (1-based)."""
        return self.per_round.setdefault(rnd, RoundFigures(round=rnd))

    def add_peak(self, figures: Figures, rnd: int) -> None:
        """Keep the closed-loop peak of one round (Locust, at the peak level)."""
        self.peaks.append(figures)
        fig = self.round_figures(rnd)
        fig.level = figures.get("users")
        fig.locust_rps = figures.get("rps")
        fig.locust_valid = bool(figures.get("valid"))

    def add_steps(self, rnd: int, steps: list[Step], sustainable: Sustained) -> None:
        """Keep one round's ladder steps and its sustainable rate."""
        self.steps += steps
        fig = self.round_figures(rnd)
        fig.sustainable_rps = sustainable.rate
        fig.sustainable_valid = sustainable.valid
        fig.p99_ms = {
            f"{s.offered_rps:g}": s.p99_ms for s in steps if s.valid and s.p99_ms is not None
        }
        self.sustainable[rnd] = (sustainable.rate, sustainable.valid, sustainable.at_least)

    def _one(self, section: str) -> Figures | None:
        runs = self.sections.get(section, {}).get(None)
        return aggregate(runs) if runs else None

    def latency_curve(self) -> list[CurvePoint]:
        """Return the ladder's rates with medians over rounds (bisection steps left out)."""
        by_rate: dict[float, list[Step]] = defaultdict(list)
        for step in self.steps:
            by_rate[step.offered_rps].append(step)
        points = []
        for rate, steps in sorted(by_rate.items()):
            if len({s.round for s in steps}) < len(steps):  # bisection steps repeat rates
                steps = list({s.round: s for s in steps}.values())
            p99 = [s.p99_ms for s in steps if s.p99_ms is not None]
            points.append(
                CurvePoint(
                    offered_rps=rate,
                    achieved_rps=_median([s.achieved_rps for s in steps]),
                    p50_ms=_median([s.p50_ms for s in steps]),
                    p99_ms=_median(p99),
                    p999_ms=_median([s.p999_ms for s in steps]),
                    failures=sum(s.failures for s in steps),
                    valid=all(s.valid for s in steps),
                    invalid_reason=next(
                        (s.invalid_reason for s in steps if s.invalid_reason), None
                    ),
                    rounds=len(steps),
                    spread_p99_ms=[min(p99), max(p99)] if p99 else [],
                )
            )
        return points

    def sustainable_summary(self, excluded: set[int]) -> Sustainable:
        """Return the sustainable rate over the rounds not excluded, with its interval."""
        values = {
            rnd: rate
            for rnd, (rate, valid, _) in sorted(self.sustainable.items())
            if valid and rnd not in excluded
        }
        present = [v for v in values.values() if v is not None]
        iv = interval(present) if present else None
        return Sustainable(
            median=iv.median if iv else None,
            low=iv.low if iv else None,
            high=iv.high if iv else None,
            slo_ms=self.slo_ms,
            rounds=len(present),
            values=values,
            at_least=any(
                at_least
                for rnd, (rate, valid, at_least) in self.sustainable.items()
                if valid and rnd not in excluded and rate is not None
            ),
        )

    def summary(self, benchmarks: dict[str, Figures], excluded: set[int]) -> TargetSummary:
        """Return this target's entry of summary.json (medians over rounds)."""
        sweep = [aggregate(runs) for _, runs in sorted(self.sections.get("sweep", {}).items())]
        peak = aggregate(self.peaks) if self.peaks else peak_of(sweep)
        if peak and self.peaks:
            peak["users"] = Counter(p["users"] for p in self.peaks).most_common(1)[0][0]
        health, noop = self._one("health"), self._one("noop")
        wrk, mix = self._one("wrk"), self._one("invalid_mix")
        entry: dict[str, Any] = {
            **self.info,
            "status": self.status,
            "error": self.error,
            "repeats": self.repeats,
            "sweep": sweep,
            "peak": peak,
            "controls": {"health": health, "noop": noop},
            "ratios": {
                "predict_to_noop": ratio(peak, noop),
                "noop_to_health": ratio(noop, health),
            },
            "invalid_mix": mix,
            "wrk": wrk,
            "locust_vs_wrk": ratio(peak, wrk),
            "decomposition": decomposition(
                self.info.get("framework"),
                self.info.get("handler"),
                sweep,
                benchmarks,
                server_cpu_us=_median([f.cpu_us_per_request for f in self.per_round.values()]),
            ),
        }
        entry["flags"] = flags(entry)
        return TargetSummary.model_validate(
            {
                **entry,
                "overload": self.overload,
                "docs": self.docs,
                "rounds": [self.per_round[r] for r in sorted(self.per_round)],
                "latency_curve": self.latency_curve(),
                "sustainable_rps": self.sustainable_summary(excluded) if self.steps else None,
            }
        )


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def flags(entry: dict[str, Any]) -> list[str]:
    """Return what a reader of this target's figures must know (bound, failures, goals)."""
    out: list[str] = []
    disturbed: list[float] = []
    named: list[tuple[str, Figures | None]] = [
        *((f"sweep c={p.get('users')}", p) for p in entry["sweep"]),
        ("control /health", entry["controls"]["health"]),
        ("control noop", entry["controls"]["noop"]),
        ("invalid mix", entry["invalid_mix"]),
        ("wrk", entry["wrk"]),
    ]
    for name, phase in named:
        if not phase:
            continue
        if phase.get("disturbed"):
            disturbed.append(float(phase["other_cpu_pct"]))
        if phase.get("load_generator_bound"):
            out.append(f"load_generator_bound in {name}")
        if phase.get("failures"):
            out.append(f"{phase['failures']} failed of {phase['requests']} requests in {name}")
        if phase.get("non_2xx"):
            out.append(f"{phase['non_2xx']} non-2xx answers in {name}")
    if disturbed:
        measured = sum(1 for _, phase in named if phase)
        out.append(
            f"disturbed: other processes used up to {max(disturbed):.0f} % of a core in "
            f"{len(disturbed)} of {measured} phases (figures less trustworthy)"
        )
    predict_to_noop = entry["ratios"]["predict_to_noop"]
    if predict_to_noop is not None and predict_to_noop < PREDICT_TO_NOOP_GOAL:
        out.append(f"predict_to_noop {predict_to_noop} below the {PREDICT_TO_NOOP_GOAL} goal")
    vs_wrk = entry["locust_vs_wrk"]
    bound = bool((entry["peak"] or {}).get("load_generator_bound"))
    if vs_wrk is not None and abs(vs_wrk - 1) > LOCUST_WRK_TOLERANCE and not bound:
        out.append(f"Locust peak is {vs_wrk:.2f}x wrk's (more than 10 % apart, not bound)")
    return out
