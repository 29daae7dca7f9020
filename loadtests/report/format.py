"""Format the report's figures: one rounding rule per unit, used by HTML, Markdown and tests."""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.common.runfiles import Comparison
from loadtests.report.load import Run, figure, lookup, spread_of, validity

DASH = "\u2013"  # en dash: a missing figure, and the separator of ranges
TIMES = "\u00d7"  # multiplication sign, after a ratio
AT_LEAST = "\u2265"


def fmt(value: float | None, unit: str) -> str:
    """Return a figure as text with its unit's rounding (no unit suffix)."""
    if value is None:
        return DASH
    if unit == "rps":
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
    if unit in ("ms", "us"):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if unit == "pct":  # a fraction shown as a percentage
        return f"{value * 100:.1f} %"
    if unit == "ratio":
        return f"{value:.2f}{TIMES}"
    if unit in ("mb", "count"):
        return f"{value:,.0f}"
    raise ValueError(f"unknown unit {unit!r}")


def change(base: float | None, new: float | None) -> float | None:
    """Return the relative change from base to new (0.1 = +10 %), None when undefined."""
    if base is None or new is None or base == 0:
        return None
    return (new - base) / base


def fmt_change(value: float | None) -> str:
    """Return a relative change as a signed percentage."""
    if value is None:
        return DASH
    return f"{value * 100:+.1f} %"


def fmt_spread(pair: tuple[float | None, float | None] | None, unit: str) -> str:
    """Return a [low, high] range as "low-high" in the unit's rounding ("" when none shows)."""
    if pair is None or pair[0] is None or pair[1] is None:
        return ""
    if fmt(pair[0], unit) == fmt(pair[1], unit):
        return ""
    return f"{fmt(pair[0], unit)}{DASH}{fmt(pair[1], unit)}"


@dataclass(frozen=True)
class Cell:
    """One figure of a table: its key into the run, its value and how it reads."""

    key: str
    unit: str
    value: float | None
    text: str
    spread: str = ""  # min-max over rounds, or a 95 % interval (see spread_title)
    spread_title: str = f"min{DASH}max over rounds"
    invalid: str = ""  # why the figure is invalid (shown greyed, never in a verdict)
    word: str = ""  # a comparison's word: faster, slower, tie, undecided
    note: str = ""  # what the figure is measured at, or where it comes from

    @property
    def missing(self) -> bool:
        """Return whether the figure was not measured."""
        return self.value is None


def cell(run: Run, key: str, unit: str) -> Cell:
    """Return the cell of a figure of the run, with its spread over rounds and validity."""
    value = figure(run, key)
    spread = ""
    target, _, path = key.partition(".")
    if not path.startswith("derived.") and "." in path:
        phase_path, _, leaf = path.rpartition(".")
        phase = lookup(run.targets.get(target) or {}, phase_path)
        if isinstance(phase, dict):
            spread = fmt_spread(spread_of(phase, leaf), unit)
    invalid = (validity(run, key) or "") if value is not None else ""
    return Cell(key, unit, value, fmt(value, unit), spread, invalid=invalid)


def sustainable_cell(run: Run, name: str) -> Cell:
    """Return a target's sustainable throughput: median, 95 % interval, ≥ for a lower bound."""
    key = f"{name}.sustainable_rps.median"
    value = figure(run, key)
    found = (run.targets.get(name) or {}).get("sustainable_rps") or {}
    text = fmt(value, "rps")
    if value is not None and found.get("at_least"):
        text = AT_LEAST + text
    ci = fmt_spread((found.get("low"), found.get("high")), "rps")
    return Cell(key, "rps", value, text, ci, "95 % bootstrap interval over rounds")


def comparison_cell(key: str, comp: Comparison | None) -> Cell:
    """Return the cell of a paired comparison: median ratio, 95 % interval and word."""
    if comp is None:
        return Cell(key, "ratio", None, DASH)
    ci = "" if comp.low is None or comp.high is None else f"{comp.low:.2f}{DASH}{comp.high:.2f}"
    return Cell(
        key,
        "ratio",
        comp.median,
        fmt(comp.median, "ratio"),
        ci,
        "95 % bootstrap interval of the paired ratio",
        word=comp.word,
        note=f"at {comp.at_rps:,.0f} req/s" if comp.at_rps else "",
    )
