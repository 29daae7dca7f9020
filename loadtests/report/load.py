"""Read one run folder and derive every figure the report shows.

Nothing here formats or draws: this module turns ``summary.json`` (and, when present,
``phases.csv`` for per-repeat figures and ``invalid_matrix.json``/``.csv``) into plain
values the templates and the charts read. Every figure is addressed by a key such as
``flask.peak.rps`` (a path into ``summary["targets"]``; ``fixed_rate@80`` picks the
fixed-rate phase at 80 % of peak) or ``flask.derived.cpu_us_per_request`` (computed
with a formula stated in the method section).
"""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Data = dict[str, Any]

HEADLINE_FRACTION = 0.8  # latency figures of the headline are taken at 80 % of peak
SPREAD_WARN_RPS = 0.10  # (max - min) / median over repeats above this: a wide spread
SPREAD_WARN_LATENCY = 0.25
LOCUST_WRK_TOLERANCE = 0.10
TIE = 0.05  # a ratio within 5 % of 1 is called a tie even without a spread


@dataclass(frozen=True)
class Pair:
    """Two targets compared as numerator:denominator, and why they are comparable."""

    name: str
    numerator: str
    denominator: str
    kind: str  # "framework" (FastAPI:Flask) or "other" (server, handler, validation)
    label: str
    note: str


PAIRS: tuple[Pair, ...] = (
    Pair(
        "default",
        "fastapi",
        "flask",
        "framework",
        "default deployments",
        "uvicorn vs gunicorn sync: not the same server",
    ),
    Pair(
        "granian",
        "fastapi-granian",
        "flask-granian",
        "framework",
        "same server (granian)",
        "same server, def handlers: the framework alone",
    ),
    Pair(
        "async",
        "fastapi-async",
        "flask",
        "framework",
        "async handler vs Flask",
        "FastAPI async def (uvicorn) vs Flask (gunicorn sync)",
    ),
    Pair(
        "flask_server",
        "flask-granian",
        "flask",
        "other",
        "granian : gunicorn (Flask)",
        "same app, the server alone",
    ),
    Pair(
        "fastapi_server",
        "fastapi-granian",
        "fastapi",
        "other",
        "granian : uvicorn (FastAPI)",
        "same app, the server alone",
    ),
    Pair(
        "handler",
        "fastapi-async",
        "fastapi",
        "other",
        "async def : def (FastAPI, uvicorn)",
        "thread pool vs event loop",
    ),
    Pair(
        "validation",
        "flask",
        "flask-seed",
        "other",
        "validated : seed (Flask, gunicorn)",
        "the cost of validation",
    ),
)


@dataclass
class Run:
    """One run folder, loaded."""

    path: Path
    summary: Data
    phases: list[dict[str, str]] = field(default_factory=list)
    matrix: list[Data] | None = None  # invalid_matrix rows, None when not measured

    @property
    def targets(self) -> dict[str, Data]:
        """Return the targets of the run that have figures, in run order."""
        return {k: v for k, v in (self.summary.get("targets") or {}).items() if v}

    @property
    def run_id(self) -> str:
        """Return the run's id (its folder name when the summary has none)."""
        return str(self.summary.get("run_id") or self.path.name)


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_run(path: Path) -> Run:
    """Load summary.json and the small raw files of a run folder."""
    path = Path(path)
    summary_path = path / "summary.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{summary_path} not found: is {path} a bench run folder?")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    files = summary.get("files") or {}
    phases = read_csv(path / files.get("phases_csv", "phases.csv"))
    from loadtests.report.matrix import load_matrix  # imported here: it builds on this module

    return Run(path, summary, phases, load_matrix(path))


# --- figures by key -------------------------------------------------------------------


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN is no figure


def fixed_at(target: Data, fraction: float = HEADLINE_FRACTION) -> Data | None:
    """Return the fixed-rate phase closest to fraction of peak (None when there is none)."""
    phases = [p for p in target.get("fixed_rate") or [] if p and p.get("fraction") is not None]
    if not phases:
        return None
    best = min(phases, key=lambda p: abs(float(p["fraction"]) - fraction))
    return best if abs(float(best["fraction"]) - fraction) < 0.05 else None


def lookup(target: Data, path: str) -> Any:
    """Return the value at a dotted path of a target (``fixed_rate@80.p99_ms``)."""
    node: Any = target
    for part in path.split("."):
        if node is None:
            return None
        if part.startswith("fixed_rate@"):
            node = fixed_at(node, float(part.split("@", 1)[1]) / 100)
        elif isinstance(node, list):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
        else:
            node = node.get(part)
    return node


def cpu_us_per_request(phase: Data | None) -> float | None:
    """Return server CPU microseconds per answered request: cpu_pct / 100 / rps x 1e6."""
    if not phase:
        return None
    cpu, rps = number(phase.get("server_cpu_pct")), number(phase.get("rps"))
    if cpu is None or not rps:
        return None
    return cpu / 100.0 / rps * 1e6


def all_phases(target: Data) -> list[Data]:
    """Return every measured phase of the served model (sweep, controls, fixed, mix)."""
    controls = target.get("controls") or {}
    out = [*(target.get("sweep") or []), controls.get("health")]
    out += [*(target.get("fixed_rate") or []), target.get("invalid_mix")]
    return [p for p in out if p]


def peak_rss_mb(target: Data) -> float | None:
    """Return the highest server RSS seen in any phase of the target (MiB)."""
    values = [number(p.get("server_rss_mb")) for p in all_phases(target)]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def cpu_phase(target: Data) -> Data | None:
    """Return the phase the CPU-per-request figure comes from: 80 % of peak, else the peak."""
    return fixed_at(target) or target.get("peak")


def bad_input(target: Data) -> Data:
    """Count the bad bodies of the invalid mix by outcome, from its by_case counts."""
    from loadtests.robustness.cases import BY_NAME

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
        return cpu_us_per_request(cpu_phase(target))
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


# --- repeats and spreads --------------------------------------------------------------


def spread_of(phase: Data | None, key: str) -> tuple[float, float] | None:
    """Return [min, max] of a figure over repeats, or None with a single repeat."""
    if not phase or (phase.get("repeats") or 1) < 2:
        return None
    pair = (phase.get("spread") or {}).get(key)
    if not pair or len(pair) != 2 or None in pair:
        return None
    return float(pair[0]), float(pair[1])


def relative_spread(phase: Data | None, key: str) -> float | None:
    """Return (max - min) / median of a figure over repeats (None with one repeat)."""
    pair = spread_of(phase, key)
    value = number((phase or {}).get(key))
    if pair is None or not value:
        return None
    return (pair[1] - pair[0]) / value


def repeat_rows(run: Run, target: str, phase_of: str) -> dict[int, dict[str, str]]:
    """Return {repeat: phases.csv row} of the peak (best sweep level) or the 80 % fixed rate."""
    rows = [
        r for r in run.phases if r.get("target") == target and (r.get("repeat") or "").isdigit()
    ]
    out: dict[int, dict[str, str]] = {}
    if phase_of == "peak":
        for row in rows:
            if row.get("section") != "sweep":
                continue
            best = out.get(int(row["repeat"]))
            if best is None or (number(row.get("rps")) or 0) > (number(best.get("rps")) or 0):
                out[int(row["repeat"])] = row
        return out
    phase = fixed_at(run.targets.get(target) or {})
    name = (phase or {}).get("phase")
    return {int(r["repeat"]): r for r in rows if name and r.get("phase") == name}


def per_repeat(run: Run, target: str, phase_of: str, key: str) -> dict[int, float]:
    """Return {repeat: value} of a figure of the peak or the 80 % fixed rate (phases.csv)."""
    out: dict[int, float] = {}
    for repeat, row in repeat_rows(run, target, phase_of).items():
        value = _row_cpu(row) if key == "cpu_us_per_request" else number(row.get(key))
        if value is not None:
            out[repeat] = value
    return out


def _row_cpu(row: dict[str, str]) -> float | None:
    return cpu_us_per_request({"server_cpu_pct": row.get("server_cpu_pct"), "rps": row.get("rps")})


@dataclass(frozen=True)
class Ratio:
    """A numerator:denominator ratio with its spread over repeats."""

    value: float
    low: float | None  # min over repeats (None: single repeat)
    high: float | None
    repeats: int

    @property
    def within_noise(self) -> bool:
        """Return whether the ratio cannot be told apart from 1 (a tie)."""
        if self.low is not None and self.high is not None and self.low <= 1.0 <= self.high:
            return True
        return abs(self.value - 1.0) < TIE


def ratio(run: Run, num: str, den: str, phase_of: str, key: str) -> Ratio | None:
    """Return num:den of a figure: per repeat from phases.csv when it can, else medians."""
    a_t, b_t = run.targets.get(num), run.targets.get(den)
    if not a_t or not b_t:
        return None
    a_p, b_p = _phase(a_t, phase_of), _phase(b_t, phase_of)
    a = per_repeat(run, num, phase_of, key)
    b = per_repeat(run, den, phase_of, key)
    both = sorted(set(a) & set(b))
    values = [a[r] / b[r] for r in both if b[r]]
    if len(values) >= 2:
        return Ratio(statistics.median(values), min(values), max(values), len(values))
    if key == "cpu_us_per_request":
        x, y = cpu_us_per_request(a_p), cpu_us_per_request(b_p)
    else:
        x, y = number((a_p or {}).get(key)), number((b_p or {}).get(key))
    if x is None or not y:
        return None
    sa, sb = spread_of(a_p, key), spread_of(b_p, key)
    if a_p and b_p and sa and sb and sb[0] and sb[1]:
        return Ratio(x / y, sa[0] / sb[1], sa[1] / sb[0], min(a_p["repeats"], b_p["repeats"]))
    return Ratio(x / y, None, None, 1)


def _phase(target: Data, name: str) -> Data | None:
    return target.get("peak") if name == "peak" else fixed_at(target)
