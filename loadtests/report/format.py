"""Format the report's figures: one rounding rule per unit, used by HTML, Markdown and tests."""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.report.load import Ratio, Run, figure, lookup, spread_of

DASH = "\u2013"  # en dash: a missing figure, and the separator of ranges
TIMES = "\u00d7"  # multiplication sign, after a ratio


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
    if unit == "mb":
        return f"{value:,.0f}"
    if unit == "count":
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


def fmt_spread(pair: tuple[float, float] | None, unit: str) -> str:
    """Return a [min, max] spread as "min-max" in the unit's rounding ("" when none shows)."""
    if pair is None or fmt(pair[0], unit) == fmt(pair[1], unit):
        return ""
    return f"{fmt(pair[0], unit)}{DASH}{fmt(pair[1], unit)}"


@dataclass(frozen=True)
class Cell:
    """One figure of a table: its key into the run, its value and how it reads."""

    key: str
    unit: str
    value: float | None
    text: str
    spread: str = ""
    note: str = ""

    @property
    def missing(self) -> bool:
        """Return whether the figure was not measured."""
        return self.value is None


def cell(run: Run, key: str, unit: str, note: str = "") -> Cell:
    """Return the cell of a figure of the run, with its spread over repeats."""
    value = figure(run, key)
    spread = ""
    target, _, path = key.partition(".")
    if not path.startswith("derived.") and "." in path:
        phase_path, _, leaf = path.rpartition(".")

        phase = lookup(run.targets.get(target) or {}, phase_path)
        if isinstance(phase, dict):
            spread = fmt_spread(spread_of(phase, leaf), unit)
    return Cell(key, unit, value, fmt(value, unit), spread, note)


def ratio_cell(key: str, r: Ratio | None) -> Cell:
    """Return the cell of a ratio, with its per-repeat range."""
    if r is None:
        return Cell(key, "ratio", None, DASH)
    spread = ""
    if r.low is not None and r.high is not None:
        spread = f"{r.low:.2f}{DASH}{r.high:.2f}"
    return Cell(key, "ratio", r.value, fmt(r.value, "ratio"), spread)
