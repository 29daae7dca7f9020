"""The speed claim: the FastAPI:Flask comparisons of summary.json, each with the word its
95 % interval supports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from loadtests.common.runfiles import VERDICT_FIGURES, Comparison, Summary
from loadtests.common.stats import DASH, Interval, Word, describe, verdict_word
from loadtests.report.claims._rows import fact, ratio_text, row

SPEED_FIGURES = ("throughput", "sustainable", "p99")  # what "faster" can mean
SPEED_PAIRS = ("article", "default", "granian", "async")  # FastAPI : Flask
CONTEXT_PAIRS = ("handler",)  # async def : def, both FastAPI: ASGI's own effect
FIGURE_NAMES = {
    "throughput": "throughput",
    "sustainable": "sustainable throughput",
    "p99": "p99",
    "p50": "p50",
    "cpu_per_request": "CPU per request",
}


def _ci(iv: Interval, left_out: Mapping[int, str] | None = None) -> str:
    if iv.n == 0 and left_out:
        reasons = ", ".join(sorted(set(left_out.values())))
        return f"no usable round: {len(left_out)} left out ({reasons})"
    if iv.low is None or iv.high is None:
        return f"{iv.n} round{'s' if iv.n != 1 else ''}, too few for an interval"
    return f"95 % CI {iv.low:.2f}{DASH}{iv.high:.2f}"


def _figure_name(c: Comparison) -> str:
    if c.figure in ("p99", "p50") and c.at_rps is not None:
        return f"{c.figure} at {c.at_rps:,.0f} req/s"
    return FIGURE_NAMES[c.figure]


def _interval(c: Comparison) -> Interval:
    """Return the comparison's interval as stats.Interval (n: its rounds; older files: the
    number of its per-round ratios)."""
    method = c.method if c.method in ("BCa", "percentile", "constant", "pooled") else "too few"
    return Interval(c.median, c.low, c.high, c.rounds or len(c.ratios), cast(Any, method))


def supported_word(c: Comparison) -> Word:
    """Return the comparison's word, or "undecided" where its interval does not support it."""
    word = verdict_word(_interval(c), higher_is_better=c.higher_is_better).word
    return c.word if c.word == word else "undecided"


def speed_view(summary: Summary) -> dict[str, Any]:
    """Return the speed comparisons of the claim's pairs, each with the word it supports."""
    pairs = {p.name: p for p in summary.pairs}
    rows = []
    for c in summary.comparisons:
        if c.pair not in SPEED_PAIRS + CONTEXT_PAIRS:
            continue
        iv, word = _interval(c), supported_word(c)
        pair = pairs.get(c.pair)
        rows.append(
            {
                "pair": c.pair,
                "label": pair.label if pair else c.pair,
                "numerator": c.numerator,
                "denominator": c.denominator,
                "figure": c.figure,
                "figure_name": _figure_name(c),
                "source": c.source,
                "median": c.median,
                "low": c.low,
                "high": c.high,
                "rounds": iv.n,
                "ratio_text": ratio_text(c.median),
                "ci_text": _ci(iv, c.left_out),
                "left_out": {str(k): v for k, v in c.left_out.items()},
                "word": word,
                "file_word": c.word,
                "used": c.pair in SPEED_PAIRS and c.figure in VERDICT_FIGURES,
                "sentence": describe(c.numerator, c.denominator, iv, word, _figure_name(c)),
                "key": f"comparisons.{c.pair}.{c.figure}",
            }
        )
    return {"comparisons": rows}


def speed_row(speed: Mapping[str, Any]) -> dict[str, Any]:
    """Return the row of "FastAPI is much faster than Flask because it's built over ASGI"."""
    claim = "FastAPI is much faster than Flask because it's built over ASGI."
    used = [c for c in speed["comparisons"] if c["used"]]
    by_pair: dict[str, list[dict[str, Any]]] = {}
    for c in speed["comparisons"]:
        by_pair.setdefault(c["pair"], []).append(c)
    measured = []
    for pair, comps in by_pair.items():
        first = comps[0]
        head = f"{first['label']} (`{first['numerator']}` : `{first['denominator']}`)"
        if pair in CONTEXT_PAIRS:
            head = f"context, ASGI's own effect: {head}"
        parts = [
            f"{c['figure_name']} {c['ratio_text']} ({c['ci_text']}): {c['word']}"
            if c["median"] is not None
            else f"{c['figure_name']}: {c['ci_text']}, {c['word']}"
            for c in comps
            if c["figure"] in SPEED_FIGURES
        ]
        if parts:
            measured.append(fact(f"{head}: " + "; ".join(parts), f"comparisons.{pair}"))
    if not used:
        return row("speed", "Speed", claim, measured, "not_measured", "no FastAPI:Flask pair")
    faster = [c for c in used if c["word"] == "faster"]
    against = [c for c in used if c["word"] in ("tie", "slower")]
    undecided = [c for c in used if c["word"] == "undecided"]
    if faster and not against and not undecided:
        return row("speed", "Speed", claim, measured, "holds", "FastAPI is faster in every pair.")
    if faster:
        text = _conditions(faster)
        if against:
            text += "; a tie or slower for " + _conditions(against)
        if undecided:
            text += "; undecided for " + _conditions(undecided)
        return row("speed", "Speed", claim, measured, "holds_only_when", text + ".")
    if against:
        text = "a tie or slower for " + _conditions(against)
        if undecided:
            text += "; undecided for " + _conditions(undecided)
        return row("speed", "Speed", claim, measured, "does_not_hold", text + ".")
    return row(
        "speed",
        "Speed",
        claim,
        measured,
        "undecided",
        "the intervals support no difference yet: " + _conditions(undecided) + ".",
    )


def _conditions(comps: Iterable[Mapping[str, Any]]) -> str:
    """Name pairs and figures: "the article's apps (article-fastapi : …) on throughput, p99"."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for c in comps:
        grouped.setdefault((c["label"], c["numerator"], c["denominator"]), []).append(
            c["figure_name"]
        )
    return "; ".join(
        f"{label} (`{num}` : `{den}`) on {', '.join(figures)}"
        for (label, num, den), figures in grouped.items()
    )
