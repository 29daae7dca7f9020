"""Read one run folder and derive every figure the report shows.

Nothing here formats or draws: this module loads the run through the run-file models
(``loadtests.common.runfiles``: ``summary.json``, ``phases.csv``, ``invalid_matrix.json``)
and turns it into plain values the templates and the charts read. Every figure is
addressed by a key such as ``flask.peak.rps`` (a path into ``summary["targets"]``) or
``flask.derived.cpu_us_per_request`` (computed with a formula stated in the method
section). Contrasts between targets are never computed here: they are the run's
``Summary.comparisons``, ratios paired within rounds with their bootstrap interval.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.bench.compare import throughput_source
from loadtests.bench.ladder import comparison_rung
from loadtests.bench.rungs import closed_loop_capacity
from loadtests.common.runfiles import (
    Comparison,
    Controls,
    CpuDecomposition,
    CurvePoint,
    Decomposition,
    MatrixFile,
    OverloadResult,
    Pair,
    Phase,
    PhaseRow,
    Ratios,
    RoundFigures,
    RoundInfo,
    Summary,
    Sustainable,
    TargetSummary,
    read_matrix,
    read_phases,
    read_summary,
)
from loadtests.robustness.cases import BY_NAME

Data = dict[str, Any]

SPREAD_WARN_RPS = 0.10  # (max - min) / median over rounds above this: a wide spread
SPREAD_WARN_LATENCY = 0.25
LOCUST_WRK_TOLERANCE = 0.10
KNOWN_KEYS = frozenset().union(
    *(
        m.model_fields
        for m in (
            TargetSummary,
            Phase,
            Controls,
            Ratios,
            Decomposition,
            CpuDecomposition,
            OverloadResult,
            CurvePoint,
            Sustainable,
            RoundFigures,
            Summary,
        )
    ),
    {"derived"},
)


@dataclass
class Run:
    """One run folder, loaded through the run-file models (loadtests.common.runfiles)."""

    path: Path
    summary: Data  # Summary.dump(): only keys the model defines
    phases: list[PhaseRow] = field(default_factory=list)
    matrix: MatrixFile | None = None  # None when the run did not measure it

    @property
    def pairs(self) -> list[Pair]:
        """Return the comparisons among the run's targets, as summary.json lists them."""
        return [Pair.model_validate(p) for p in self.summary.get("pairs") or []]

    @property
    def comparisons(self) -> list[Comparison]:
        """Return the run's paired comparisons (pair x figure), as the runner computed them."""
        return [Comparison.model_validate(c) for c in self.summary.get("comparisons") or []]

    @property
    def rounds(self) -> list[RoundInfo]:
        """Return the run's rounds with their calibration, noise and flags."""
        return [RoundInfo.model_validate(r) for r in self.summary.get("rounds") or []]

    @property
    def excluded_rounds(self) -> list[RoundInfo]:
        """Return the flagged rounds, which the verdicts leave out."""
        return [r for r in self.rounds if r.excluded]

    @property
    def targets(self) -> dict[str, Data]:
        """Return the targets of the run that have figures, in run order."""
        return {k: v for k, v in (self.summary.get("targets") or {}).items() if v}

    @property
    def run_id(self) -> str:
        """Return the run's id (its folder name when the summary has none)."""
        return str(self.summary.get("run_id") or self.path.name)

    def comparison(self, pair: str, figure: str) -> Comparison | None:
        """Return the comparison of one pair on one figure (None when not measured)."""
        return next((c for c in self.comparisons if c.pair == pair and c.figure == figure), None)


def load_run(path: Path) -> Run:
    """Load summary.json, phases.csv and invalid_matrix.json of a run folder."""
    path = Path(path)
    return Run(path, read_summary(path).dump(), read_phases(path), read_matrix(path))


# --- figures by key -------------------------------------------------------------------


def number(value: Any) -> float | None:
    """Return value as a float, None when it is no figure (None, a flag, NaN, text)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN is no figure


def lookup(target: Data, path: str) -> Any:
    """Return the value at a dotted path of a target (``latency_curve.2.p99_ms``) or of the
    whole summary (``client_scheduling``).

    A name that no run-file model defines is an error, not a silent None: a reader cannot
    ask for a key that nothing writes.
    """
    node: Any = target
    for part in path.split("."):
        if not (part.isdigit() or part in KNOWN_KEYS):
            raise KeyError(f"{part!r} (in {path!r}) is no field of summary.json")
        if node is None:
            return None
        if isinstance(node, list):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
        else:
            node = node.get(part)
    return node


def all_phases(target: Data) -> list[Data]:
    """Return every closed-loop phase of a target (sweep, peak, controls, wrk, mix)."""
    controls = target.get("controls") or {}
    out = [*(target.get("sweep") or []), target.get("peak"), controls.get("health")]
    out += [controls.get("noop"), target.get("wrk"), target.get("invalid_mix")]
    return [p for p in out if p]


def peak_rss_mb(target: Data) -> float | None:
    """Return the highest server RSS seen in any phase of the target (MiB)."""
    values = [number(p.get("server_rss_mb")) for p in all_phases(target)]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def round_values(target: Data, key: str) -> list[float]:
    """Return one RoundFigures figure of a target over its rounds (rounds without it skipped)."""
    values = [number(r.get(key)) for r in target.get("rounds") or []]
    return [v for v in values if v is not None]


def cpu_us_per_request(target: Data) -> float | None:
    """Return the median over rounds of server CPU µs per answered request (at wrk's peak)."""
    values = round_values(target, "cpu_us_per_request")
    return statistics.median(values) if values else None


def bad_input(target: Data) -> Data:
    """Count the bad bodies of the invalid mix by outcome, from its by_case counts."""
    by_case = (target.get("invalid_mix") or {}).get("by_case") or {}
    sent = as_expected = server_errors = 0
    for case, statuses in by_case.items():
        if case == "valid" or not isinstance(statuses, dict):
            continue
        expected = BY_NAME[case].expected_status if case in BY_NAME else None
        for status, count in statuses.items():
            sent += count
            if expected is not None and str(status) == str(expected):
                as_expected += count
            if str(status).startswith("5"):
                server_errors += count
    return {"sent": sent, "as_expected": as_expected, "server_errors": server_errors}


def derived(target: Data, name: str) -> float | None:
    """Return one derived figure of a target by name (see the method section)."""
    if name == "cpu_us_per_request":
        return cpu_us_per_request(target)
    if name == "peak_rss_mb":
        return peak_rss_mb(target)
    if name in ("bad_sent", "bad_as_expected", "bad_5xx"):
        counts = bad_input(target)
        key = {"bad_sent": "sent", "bad_as_expected": "as_expected", "bad_5xx": "server_errors"}
        return float(counts[key[name]])
    raise KeyError(name)


def figure(run: Run, key: str) -> float | None:
    """Return the figure a report key names, from the run's files."""
    target_name, _, path = key.partition(".")
    target = run.targets.get(target_name)
    if target is None:
        return None
    if path.startswith("derived."):
        return derived(target, path.removeprefix("derived."))
    return number(lookup(target, path))


def validity(run: Run, key: str) -> str | None:
    """Return why the figure a key names is invalid (None: valid, or no validity applies).

    The figure's own phase or curve point says: ``valid`` False with its ``invalid_reason``.
    """
    target_name, _, path = key.partition(".")
    target = run.targets.get(target_name) or {}
    if path.startswith("derived.") or "." not in path:
        return None
    parent = lookup(target, path.rpartition(".")[0])
    if not isinstance(parent, dict) or parent.get("valid", True):
        return None
    return str(parent.get("invalid_reason") or "load generator without headroom")


# --- the throughput every ranking draws -----------------------------------------------


@dataclass(frozen=True)
class ThroughputSource:
    """The phase every throughput ranking draws (the verdict's source), and the other tool's
    phase, shown beside it only as context."""

    phase: str  # under each target: "wrk", or "peak" (Locust's closed-loop peak)
    tool: str  # "wrk" or "Locust"
    label: str  # the verdict's words for it (Comparison.source)
    context_phase: str
    context_tool: str


def ranked_source(run: Run) -> ThroughputSource:
    """Return the throughput every ranking draws: the source of the run's throughput
    comparisons (the verdict's), or where they name none or several (an older rule), the
    verdict's rule over all the run's targets: wrk whenever wrk ran, else Locust's peak."""
    stated = {c.source for c in run.comparisons if c.figure == "throughput"}
    if len(stated) == 1:
        (label,) = stated
    else:
        targets = (TargetSummary.model_validate(t) for t in run.targets.values())
        label, _ = throughput_source(*targets)
    if label.startswith("Locust"):
        return ThroughputSource("peak", "Locust", label, "wrk", "wrk")
    return ThroughputSource("wrk", "wrk", label, "peak", "Locust")


# --- the latency curve ----------------------------------------------------------------


def common_rate(run: Run) -> float | None:
    """Return the ladder rate the headline reads p99 at: the run's headline rung (fixed after
    round 1 and measured in every round: ``ladder.comparison_rung`` over every target); for
    runs without one, the same rule over the rates every target measured validly in its
    curve (the lowest of them when no capacity is known); None when they share none."""
    if run.summary.get("headline_rung") is not None:
        return float(run.summary["headline_rung"])
    curves = [t.get("latency_curve") or [] for t in run.targets.values()]
    curves = [c for c in curves if c]
    if not curves:
        return None
    shared = set.intersection(
        *(
            {float(p["offered_rps"]) for p in c if p.get("valid") and p.get("p99_ms")}
            for c in curves
        )
    )
    if not shared:
        return None
    capacities = [
        closed_loop_capacity(TargetSummary.model_validate(t).rounds) for t in run.targets.values()
    ]
    return comparison_rung(capacities, sorted(shared)) or min(shared)


def curve_index(target: Data, rate: float | None) -> int | None:
    """Return the index of a rate in a target's curve (its lowest point when rate is None)."""
    curve = target.get("latency_curve") or []
    if not curve:
        return None
    if rate is None:
        return min(range(len(curve)), key=lambda i: float(curve[i]["offered_rps"]))
    return next((i for i, p in enumerate(curve) if float(p["offered_rps"]) == rate), None)


# --- spreads over rounds --------------------------------------------------------------


def spread_of(phase: Data | None, key: str) -> tuple[float, float] | None:
    """Return [min, max] of a phase figure over rounds, or None with a single round."""
    if not phase or (phase.get("repeats") or 1) < 2:
        return None
    pair = (phase.get("spread") or {}).get(key)
    if not pair or len(pair) != 2 or None in pair:
        return None
    return float(pair[0]), float(pair[1])


def relative_spread(phase: Data | None, key: str) -> float | None:
    """Return (max - min) / median of a phase figure over rounds (None with one round)."""
    pair = spread_of(phase, key)
    value = number((phase or {}).get(key))
    if pair is None or not value:
        return None
    return (pair[1] - pair[0]) / value
