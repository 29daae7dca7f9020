"""Turn raw phase results into the figures of summary.json, and collect them per target."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from loadtests.bench.phase import PhaseConfig
from loadtests.bench.summary import Figures, aggregate, decomposition, peak_of, ratio
from loadtests.common import hdr as _hdr

PREDICT_TO_NOOP_GOAL = 0.85
LOCUST_WRK_TOLERANCE = 0.10
ERROR_KINDS_KEPT = 10


def latency(encoded: str | None, prefix: str = "") -> Figures:
    """Return the latency figures of an encoded histogram, keys optionally prefixed."""
    return {prefix + k: v for k, v in _hdr.figures(_hdr.merge([encoded])).items()}


def locust_figures(
    config: PhaseConfig,
    result: dict[str, Any],
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
    if config["kind"] == "fixed":
        figures["target_rps"] = round(config["rate"], 1)
        figures.update(latency(result["service"], "service_"))
        lag = latency(result["send_lag"])
        figures["send_lag_p99_ms"] = lag["p99_ms"]
        figures["send_lag_max_ms"] = lag["max_ms"]
    if config["bad_fraction"] > 0:
        figures["bad_fraction"] = config["bad_fraction"]
        figures["by_case"] = result["by_case"]
    return figures


class TargetRecord:
    """Everything measured for one target, kept per repeat until summarised."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.sections: dict[str, dict[Any, list[Figures]]] = defaultdict(lambda: defaultdict(list))
        self.peaks: list[Figures] = []
        self.status = "pending"
        self.error: str | None = None
        self.repeats = 0

    def add(self, section: str, figures: Figures, key: Any = None) -> None:
        """Keep one phase's figures (key: the level of a sweep, the fraction of a fixed rate)."""
        self.sections[section][key].append(figures)

    def measured(self) -> bool:
        """Tell whether any phase of this target has figures."""
        return any(runs for section in self.sections.values() for runs in section.values())

    def sweep_of_repeat(self, repeat: int) -> list[Figures]:
        """Return the sweep figures measured in one repeat (0-based), in level order."""
        return [
            runs[repeat] for _, runs in sorted(self.sections["sweep"].items()) if len(runs) > repeat
        ]

    def add_peak(self, figures: Figures) -> None:
        """Keep the peak level of one repeat."""
        self.peaks.append(figures)

    def _one(self, section: str) -> Figures | None:
        runs = self.sections.get(section, {}).get(None)
        return aggregate(runs) if runs else None

    def summary(self, benchmarks: dict[str, Figures]) -> dict[str, Any]:
        """Return this target's entry of summary.json (medians over repeats)."""
        sweep = [aggregate(runs) for _, runs in sorted(self.sections.get("sweep", {}).items())]
        peak = aggregate(self.peaks) if self.peaks else peak_of(sweep)
        if peak and self.peaks:
            peak["users"] = Counter(p["users"] for p in self.peaks).most_common(1)[0][0]
        health, noop = self._one("health"), self._one("noop")
        wrk, mix = self._one("wrk"), self._one("invalid_mix")
        fixed = [aggregate(runs) for _, runs in sorted(self.sections.get("fixed_rate", {}).items())]
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
            "fixed_rate": fixed,
            "invalid_mix": mix,
            "wrk": wrk,
            "locust_vs_wrk": ratio(peak, wrk),
            "decomposition": decomposition(
                self.info.get("framework"), self.info.get("handler"), sweep, benchmarks
            ),
        }
        entry["flags"] = flags(entry)
        return entry


def flags(entry: dict[str, Any]) -> list[str]:
    """Return what a reader of this target's figures must know (bound, failures, goals)."""
    out: list[str] = []
    disturbed: list[float] = []
    named: list[tuple[str, Figures | None]] = [
        *((f"sweep c={p.get('users')}", p) for p in entry["sweep"]),
        ("control /health", entry["controls"]["health"]),
        ("control noop", entry["controls"]["noop"]),
        *((f"fixed rate {p.get('fraction', 0):.0%}", p) for p in entry["fixed_rate"]),
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
        target = phase.get("target_rps")
        if target and phase.get("rps") and phase["rps"] < 0.95 * target:
            out.append(f"{name}: achieved {phase['rps']} of {target} req/s")
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
