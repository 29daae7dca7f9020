"""Turn raw phase results into the figures of summary.json, and collect them per target."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from loadtests.bench.config import RunSettings
from loadtests.bench.ladder import Climb
from loadtests.bench.pooling import Pool, pool_into
from loadtests.bench.rungs import (
    closed_loop_capacity,
    curve,
    pooled_rungs,
    sustainable_summary,
)
from loadtests.bench.summary import Figures, aggregate, decomposition, peak_of, ratio
from loadtests.common import hdr as _hdr
from loadtests.common.runfiles import (
    Alone,
    CpuSplit,
    DocsCheck,
    OverloadResult,
    Phase,
    RoundFigures,
    Rung,
    Step,
    TargetSummary,
)
from loadtests.loadgen.locust_phase import LocustResult, PhaseConfig
from loadtests.targets import TARGETS

PREDICT_TO_NOOP_GOAL = 0.85
AA_COLOUR = "#999999"  # the A/A twin, grey: a control, not a contender
LOCUST_WRK_TOLERANCE = 0.10
ERROR_KINDS_KEPT = 10
# A figure is valid only while the load generator had headroom (DESIGN section 4).
LG_LIMIT_PCT = 70.0  # the busiest load-generator process, percent of one core
SEND_LAG_LIMIT_MS = 1.0  # open loop: p99 of (actual send - intended send)
# A wrk pass saturates the server: its process tree should use all the time of the cores it is
# pinned to. When it got less, the machine (steal, another process) or a stalled client took
# the rest, and the pass measured that, not the server. Over six default runs on the Intel
# Xeon VM (464 passes), those below 80 % came out 56 % under their target's median on average,
# at 80-90 % 25 % under, at 90-95 % 7 % under, the rest 0-5 % over it (README, "Disturbed
# rounds and disturbed passes").
SATURATION_LIMIT_PCT = 90.0
# What a wrk pass splits the server's CPU per request into (``loadtests.bench.cpu``).
SPLIT_KEYS = ("user_us", "kernel_us", "connections_per_request", "client_connections_per_request")


def validity(
    lg_cpu_pct: float | None,
    send_lag_p99_ms: float | None = None,
    server_share_pct: float | None = None,
) -> str | None:
    """Return why a figure is invalid (None: valid): a busy generator measures itself, and a
    saturating load whose server did not get its cores measured the machine."""
    if lg_cpu_pct is not None and lg_cpu_pct > LG_LIMIT_PCT:
        return f"load generator at {lg_cpu_pct:.0f} % of a core (limit {LG_LIMIT_PCT:.0f} %)"
    if send_lag_p99_ms is not None and send_lag_p99_ms > SEND_LAG_LIMIT_MS:
        return f"send lag p99 {send_lag_p99_ms:.2f} ms (limit {SEND_LAG_LIMIT_MS:g} ms)"
    if server_share_pct is not None and server_share_pct < SATURATION_LIMIT_PCT:
        return (
            f"server got {server_share_pct:.0f} % of its cores during the pass (limit "
            f"{SATURATION_LIMIT_PCT:g} %: the machine or the client took the rest)"
        )
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
    target = TARGETS[settings.target_of(name)]
    twin = target.name if name != target.name else None
    return {
        "name": name,
        "label": f"{target.label}, A/A twin" if twin else target.label,
        "colour": AA_COLOUR if twin else target.colour,
        "twin_of": twin,
        "framework": target.framework,
        "handler": target.handler,
        "server": target.server,
        "description": target.description,
        "command": target.command(workers=settings.server_workers),
        "url": None,
        "locust_workers": settings.locust_workers,
    }


class TargetRecord:
    """Everything measured for one target, kept per round until summarised."""

    def __init__(self, info: dict[str, Any], slo_ms: float, confidence: float) -> None:
        self.info = info
        self.slo_ms = slo_ms
        self.confidence = confidence
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
        self.pools: dict[tuple[float, int], Pool] = {}  # (rate, round) -> its latencies
        self.climb: Climb | None = None  # round 1's climb: readings, knee, window
        self.fixed: list[float] = []  # the rungs every later round measures
        self.roles: dict[float, set[str]] = defaultdict(set)
        self.alone: Alone | None = None
        self.wrk_passes: dict[int, list[Figures]] = defaultdict(list)  # round -> its passes

    def add_wrk_pass(self, rnd: int, figures: Figures) -> RoundFigures:
        """Add one wrk pass to round rnd's figures: throughput, CPU split and connections are
        the mean of the round's valid passes (of all of them while none is valid, the round's
        figure then invalid), so a disturbed pass is shown in phases.csv but counts nowhere."""
        passes = self.wrk_passes[rnd]
        passes.append(figures)
        fig = self.round_figures(rnd)
        fig.wrk_samples = [float(p["rps"] or 0) for p in passes]
        fig.wrk_samples_valid = [bool(p["valid"]) for p in passes]
        fig.wrk_valid = any(fig.wrk_samples_valid)
        used = [p for p in passes if p["valid"]] or passes
        fig.wrk_rps = round(statistics.mean(float(p["rps"] or 0) for p in used), 1)
        for key in SPLIT_KEYS:
            values = [p[key] for p in used if p.get(key) is not None]
            if values:
                setattr(fig, key, round(statistics.mean(values), 4 if "connections" in key else 1))
        if fig.user_us is not None and fig.kernel_us is not None:
            fig.cpu_us_per_request = round(fig.user_us + fig.kernel_us, 1)
        return fig

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

    def add_step(self, step: Step, pool: Pool, role: str) -> None:
        """Keep one open-loop step, its latencies (for pooling) and why its rate was measured."""
        self.steps.append(step)
        pool_into(self.pools, (step.offered_rps, step.round), pool)
        self.roles[step.offered_rps].add(role)
        if step.valid and step.p99_fit and step.p99_ms is not None:
            fig = self.round_figures(step.round)
            fig.p99_ms = {**fig.p99_ms, f"{step.offered_rps:g}": step.p99_ms}

    def rungs(self, excluded: set[int]) -> list[Rung]:
        """Return every rate measured, its rounds pooled and judged (flagged rounds left out)."""
        return pooled_rungs(
            self.steps,
            self.pools,
            self.roles,
            excluded,
            slo_ms=self.slo_ms,
            confidence=self.confidence,
        )

    def cpu_split(self) -> CpuSplit | None:
        """Return the wrk phase's CPU split and connections per request, medians over rounds
        (every round: a description of the target, like its wrk median, not a contrast)."""
        rounds = list(self.per_round.values())
        if not any(f.user_us is not None for f in rounds):
            return None

        def mid(key: str) -> float | None:
            values = [getattr(f, key) for f in rounds if getattr(f, key) is not None]
            return round(statistics.median(values), 4) if values else None

        return CpuSplit(
            user_us=mid("user_us"),
            kernel_us=mid("kernel_us"),
            connections_per_request=mid("connections_per_request"),
            client_connections_per_request=mid("client_connections_per_request"),
            rounds=sum(1 for f in rounds if f.user_us is not None),
        )

    def passes_left_out(self) -> list[str]:
        """Say which of the rounds' wrk passes count nowhere, and why (empty: none)."""
        passes = [(r, p) for r, ps in sorted(self.wrk_passes.items()) for p in ps]
        left = [(r, p) for r, p in passes if not p["valid"]]
        if not left:
            return []
        rounds = ", ".join(str(r) for r in sorted({r for r, _ in left}))
        shares = [float(p["server_share_pct"]) for _, p in left if p.get("server_share_pct")]
        why = (
            f"its server got {min(shares):.0f}-{max(shares):.0f} % of its cores (limit "
            f"{SATURATION_LIMIT_PCT:g} %)"
            if len(shares) == len(left)
            else str(left[0][1].get("invalid_reason") or "invalid")
        )
        return [
            f"{len(left)} of {len(passes)} wrk passes left out of its figures (round "
            f"{rounds}): {why}"
        ]

    def _one(self, section: str) -> Figures | None:
        runs = self.sections.get(section, {}).get(None)
        return aggregate(runs) if runs else None

    def summary(self, benchmarks: dict[str, Figures], excluded: set[int]) -> TargetSummary:
        """Return this target's entry of summary.json (medians over rounds)."""
        sweep = [aggregate(runs) for _, runs in sorted(self.sections.get("sweep", {}).items())]
        peak = aggregate(self.peaks) if self.peaks else peak_of(sweep)
        if peak and self.peaks:
            peak["users"] = Counter(p["users"] for p in self.peaks).most_common(1)[0][0]
        health, noop = self._one("health"), self._one("noop")
        passes = self.sections.get("wrk", {}).get(None) or []
        counted = [p for p in passes if p.get("valid", True)] or passes
        wrk, mix = (aggregate(counted) if counted else None), self._one("invalid_mix")
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
                server_cpu_us=_median(f.cpu_us_per_request for f in self.per_round.values()),
            ),
        }
        entry["flags"] = flags(entry) + self.passes_left_out()
        rungs = self.rungs(excluded)
        return TargetSummary.model_validate(
            {
                **entry,
                "overload": self.overload,
                "docs": self.docs,
                "rounds": [self.per_round[r] for r in sorted(self.per_round)],
                "latency_curve": curve(self.steps, self.pools, excluded),
                "sustainable_rps": sustainable_summary(
                    rungs,
                    excluded,
                    slo_ms=self.slo_ms,
                    confidence=self.confidence,
                    ceiling=closed_loop_capacity(self.per_round.values()),
                )
                if rungs
                else None,
                "twin_of": self.info.get("twin_of"),
                "rungs": rungs,
                "knee_rps": self.climb.knee if self.climb else None,
                "ladder_notes": self.climb.notes if self.climb else [],
                "cpu_split": self.cpu_split(),
                "alone": self.alone,
            }
        )


def _median(values: Iterable[float | None]) -> float | None:
    """Return the median of the known values, rounded (None when none is known)."""
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
