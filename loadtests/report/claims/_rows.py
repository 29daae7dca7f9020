"""One row of the claims table and the measured facts it quotes."""

from __future__ import annotations

from typing import Any, Literal

from loadtests.common.stats import DASH, TIMES

Kind = Literal[
    "holds", "does_not_hold", "holds_only_when", "undecided", "not_measured", "note", "finding"
]
VERDICT_WORDS: dict[str, str] = {
    "holds": "holds",
    "does_not_hold": "does not hold",
    "holds_only_when": "holds only when",
    "undecided": "undecided",
    "not_measured": "not measured",
    "note": "note",
    "finding": "measured",
}


def fact(
    text: str, figure: str | None = None, value: float | None = None, unit: str = ""
) -> dict[str, Any]:
    """Return one measured statement; ``figure`` names its source for data-figure."""
    return {"text": text, "figure": figure, "value": value, "unit": unit}


def row(
    key: str, topic: str, claim: str, measured: list[dict[str, Any]], kind: Kind, verdict: str
) -> dict[str, Any]:
    """Return one row of the claims table."""
    word = VERDICT_WORDS[kind]
    sep = " " if kind == "holds_only_when" else ": "
    return {
        "key": key,
        "topic": topic,
        "claim": claim,
        "measured": measured,
        "kind": kind,
        "word": word,
        "sep": sep,  # between the word and the verdict's text
        "verdict": verdict,
        "sentence": f"{word}{sep}{verdict}",
    }


def ratio_text(value: float | None) -> str:
    """Return a ratio with its times sign (a dash where there is none)."""
    return DASH if value is None else f"{value:.2f}{TIMES}"
