"""The verdict at a glance, the A/A control's line, and what the server spends per request.

Every line here is read off the run's own comparisons and figures (``summary.json``): a
ratio, its 95 % interval and the word the interval supports, or a count. Nothing is typed
in advance beyond the sentence's frame; which part of a cost difference dominates is
decided from the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtests.common.runfiles import AA_PAIR, VERDICT_FIGURES, Comparison
from loadtests.common.stats import DASH, TIE_BAND
from loadtests.report.format import fmt
from loadtests.report.load import Run, bad_input

WORDS = {"faster": "faster", "slower": "slower", "tie": "a tie", "undecided": "undecided"}
GLANCE_PAIRS = (
    ("default", "As deployed by default"),
    ("granian", "The framework alone (same server)"),
    ("handler", "The handler kind (FastAPI async def : def)"),
)


@dataclass(frozen=True)
class Line:
    """One line at a glance: what it is about, what the run says, and the deciding word."""

    topic: str
    text: str
    word: str = ""


def ratio_text(comp: Comparison) -> str:
    """Return a comparison as its ratio, interval and word ("1.18x (1.02-1.46) undecided")."""
    interval = (
        f" ({comp.low:.2f}{DASH}{comp.high:.2f})"
        if comp.low is not None and comp.high is not None
        else " (no interval)"
    )
    return f"{fmt(comp.median, 'ratio')}{interval} {WORDS[comp.word]}"


def _figures(run: Run, pair: str) -> tuple[str, str]:
    """Return "throughput ...; sustainable ..." for a pair, and its throughput word."""
    parts, word = [], ""
    for figure in VERDICT_FIGURES:
        comp = run.comparison(pair, figure)
        if comp is None:
            continue
        name = "sustainable throughput" if figure == "sustainable" else figure
        found = ratio_text(comp) if comp.median is not None else "undecided (no usable round)"
        parts.append(f"{name} {found}")
        word = word or comp.word
    return "; ".join(parts), word


def sources(run: Run) -> str:
    """Return where the glance's and the verdict's figures come from, said once."""
    rounds = len(run.rounds) - len(run.excluded_rounds)
    slo = (run.summary.get("settings") or {}).get("slo_ms")
    throughput = next((c.source for c in run.comparisons if c.figure == "throughput"), "")
    low, high = TIE_BAND
    shown = (
        " (Locust's peaks, each target at its own level and often without load-generator "
        "headroom, are shown, not compared)"
        if throughput.startswith("wrk")
        else ""
    )
    return (
        f"Ratios are the first target's figure over the second's: throughput from "
        f"{throughput or 'the closed-loop peaks'}{shown}; sustainable throughput (p99 within "
        f"{slo:g} ms, nothing failed) from the open-loop rungs, every round's answers pooled "
        f"and judged by MLPerf LoadGen's early-stopping rule. Medians of {rounds} round(s) with "
        f'95 % intervals; "faster" only when the whole interval lies above {high:.2f} '
        f'("slower": below {low:.2f}), "a tie" when it lies within.'
        if slo
        else ""
    )


def aa_line(run: Run) -> Line | None:
    """Return the A/A control's line: the same target against itself, on the verdict's figures."""
    pair = next((p for p in run.pairs if p.name == AA_PAIR), None)
    if pair is None:
        return None
    text, _ = _figures(run, AA_PAIR)
    if not text:
        return None
    decided = [
        c
        for f in VERDICT_FIGURES
        if (c := run.comparison(AA_PAIR, f)) is not None and c.word in ("faster", "slower")
    ]
    target = pair.denominator
    if decided:
        verdict = (
            f"{WORDS[decided[0].word]}: the method called {target} different from itself, so "
            "this run's intervals are too narrow"
        )
        return Line(f"A/A control ({target} : {target})", f"{text}. {verdict}.", "undecided")
    tested = [
        c
        for f in VERDICT_FIGURES
        if (c := run.comparison(AA_PAIR, f)) is not None and c.median is not None
    ]
    if not tested:  # every round left out, or no figure: nothing was put to the test
        return Line(
            f"A/A control ({target} : {target})",
            f"{text}: not tested, no round was usable, so nor is any verdict of this run.",
            "undecided",
        )
    return Line(
        f"A/A control ({target} : {target})",
        f"{text}: the method did not invent a difference.",
        "tie",
    )


def aa_failed(run: Run) -> bool:
    """Tell whether the run's A/A control came out faster or slower on a verdict figure."""
    return any(
        (c := run.comparison(AA_PAIR, f)) is not None and c.word in ("faster", "slower")
        for f in VERDICT_FIGURES
    )


def glance(run: Run, sweep: dict[str, Any] | None = None) -> list[Line]:
    """Return three to five short lines: each pair that decides the question, bad input, and
    (when the sweep ran) where the model's cost makes the choice moot."""
    names = set(run.targets)
    out = []
    for pair_name, topic in GLANCE_PAIRS:
        pair = next((p for p in run.pairs if p.name == pair_name), None)
        if pair is None or not {pair.numerator, pair.denominator} <= names:
            continue
        text, word = _figures(run, pair_name)
        if text:
            out.append(Line(f"{topic}: {pair.numerator} : {pair.denominator}", text, word))
    bad = bad_input_line(run)
    if bad is not None:
        out.append(bad)
    if sweep and sweep.get("measured") and sweep.get("sentence"):
        out.append(Line("Where the model's cost makes the choice moot", str(sweep["sentence"])))
    return out


def bad_input_line(run: Run) -> Line | None:
    """Return the bad-input line: the catalogue's answers per kind of target, or the mix's."""
    validated = {n for n, t in run.targets.items() if t.get("handler") not in ("seed", None)}
    seed = {n for n, t in run.targets.items() if t.get("handler") == "seed"}
    if run.matrix and run.matrix.rows:
        rows = run.matrix.rows

        def tally(names: set[str]) -> tuple[int, int, int]:
            mine = [r for r in rows if r.target in names]
            ok = sum(1 for r in mine if r.status is not None and r.status == r.expected_status)
            return ok, len(mine), sum(1 for r in mine if (r.status or 0) >= 500)

        ok, total, errors = tally(validated)
        text = (
            f"the validated targets answered {ok:,} of {total:,} catalogue cases as the "
            f"contract says ({errors} 5xx)"
        )
        if seed:
            s_ok, s_total, s_errors = tally(seed)
            text += f"; the article's apps {s_ok:,} of {s_total:,}, {s_errors:,} with a 5xx"
        return Line("Bad input", text[0].upper() + text[1:] + ".")
    counts = {n: bad_input(t) for n, t in run.targets.items() if t.get("invalid_mix")}
    sent = sum(c["sent"] for c in counts.values())
    if not sent:
        return None
    failing = {n: c["server_errors"] for n, c in counts.items() if c["server_errors"]}
    text = f"{sent:,} bad bodies in the invalid mix; 5xx from " + (
        ", ".join(f"{n} ({k:,})" for n, k in failing.items()) if failing else "no target"
    )
    return Line("Bad input", text + ".")
