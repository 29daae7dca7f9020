"""The verdict: sentences taken from the run's paired comparisons, never typed or recomputed.

Every statement of a difference is a ``Comparison.sentence`` (``loadtests.common.stats
.describe``): it says "faster" or "slower" only when the 95 % interval of the paired
ratios lies outside the tie band, "a tie" when inside, and "undecided" otherwise, with
the rounds that would likely settle it. This module only picks, orders and qualifies them.
"""

from __future__ import annotations

from collections import defaultdict

from loadtests.common.runfiles import AA_PAIR, VERDICT_FIGURES, Comparison, MatrixRow
from loadtests.report.format import DASH, TIMES, fmt
from loadtests.report.glance import aa_failed
from loadtests.report.load import Run, bad_input
from loadtests.report.view import calibration_text

DECIDED = ("faster", "slower", "tie")
SHOWN_ONLY = (
    "p99 and p50 at each pair's rung and server CPU per request are compared in the tables "
    "below with their intervals, but this verdict does not rest on them (`make stability` "
    "lists how their words moved from run to run)."
)
MODEL_MOOT_SHARE = 0.25  # below this share of a whole request the model does not set the pace


def _with_notes(comp: Comparison) -> str:
    """Return a comparison's sentence with the rounds it left out for a reason other than a
    flag (flagged rounds are named once, in the rounds sentence). Where the figures come from
    is said once, above the verdict (``loadtests.report.glance.sources``)."""
    text = comp.sentence
    parts = [
        f"round {r} ({why})"
        for r, why in sorted(comp.left_out.items())
        if not why.startswith("flagged")
    ]
    if parts:
        text += "; left out: " + ", ".join(parts)
    return text + "."


def _interplay(default: Comparison | None, same: Comparison | None) -> str:
    """Return what the default and same-server throughput words say together ("" if nothing)."""
    if default is None or same is None:
        return ""
    if default.word not in DECIDED or same.word not in DECIDED:
        return ""
    if default.word in ("faster", "slower") and same.word == "tie":
        return "Held to the same server the frameworks tie, so the default gap is the servers'."
    if default.word == "tie" and same.word in ("faster", "slower"):
        return "The framework difference shows only when the server is held constant."
    if {default.word, same.word} == {"faster", "slower"}:
        return "The order flips under one server, so the servers decide the default ranking."
    return ""


def rounds_sentence(run: Run) -> str | None:
    """Return which rounds the verdict leaves out because they were flagged, and why."""
    rounds = run.rounds
    if not rounds:
        return None
    flagged = run.excluded_rounds
    if not flagged:
        return f"No round was flagged: all {len(rounds)} rounds count in these comparisons."
    parts = [f"round {r.round} ({'; '.join(r.flags)})" for r in flagged]
    used = len(rounds) - len(flagged)
    return (
        f"Flagged and left out of this verdict: {', '.join(parts)}; "
        f"{used} of {len(rounds)} rounds count."
    )


def verdict(run: Run) -> list[str]:
    """Return the verdict: the run's comparison sentences, then the model and bad input."""
    out: list[str] = []
    env = run.summary.get("environment") or {}
    cores = len(env.get("server_cores") or [])
    pinned = f"server pinned to {cores} core{'s' if cores > 1 else ''}" if cores else "unpinned"
    machine = (
        f"On this machine ({env.get('cpu_model') or 'unknown CPU'}, {pinned}; "
        f"CPU calibration {calibration_text(run)}):"
    )
    names = {p.name for p in run.pairs if {p.numerator, p.denominator} <= set(run.targets)}
    default = run.comparison("default", "throughput") if "default" in names else None
    same = run.comparison("granian", "throughput") if "granian" in names else None
    first = True
    if aa_failed(run):
        aa = next(
            c
            for f in VERDICT_FIGURES
            if (c := run.comparison(AA_PAIR, f))
            and c.word
            in (
                "faster",
                "slower",
            )
        )
        out.append(
            f"{machine} this run's A/A control, {aa.numerator} against itself, came out "
            f"{aa.word} on {aa.figure} ({aa.median:.2f}{TIMES}, 95 % CI {aa.low:.2f}{DASH}"
            f"{aa.high:.2f}): the method invented a difference, so its intervals are too narrow "
            "for this run, and every word below may be one too."
        )
        first = False
    for pair in ("default", "granian"):
        if pair not in names:
            continue
        sentences = [_with_notes(c) for fig in VERDICT_FIGURES if (c := run.comparison(pair, fig))]
        if sentences:
            lead = f"{machine} " if first else ""
            out.append(lead + " ".join(sentences))
            first = False
    if out:
        interplay = _interplay(default, same)
        if interplay:
            out[-1] += " " + interplay
    else:
        out.append(f"{machine} no like-for-like FastAPI:Flask pair was compared.")
    if "handler" in names:
        handler = [
            _with_notes(c) for fig in VERDICT_FIGURES if (c := run.comparison("handler", fig))
        ]
        if handler:
            out.append(" ".join(handler))
    if any(c.figure not in VERDICT_FIGURES for c in run.comparisons):
        out.append(SHOWN_ONLY)
    rounds = rounds_sentence(run)
    if rounds:
        out.append(rounds)
    model = _model_sentence(run)
    if model:
        out.append(model)
    bad = _bad_input_sentence(run)
    if bad:
        out.append(bad)
    return out


def _model_sentence(run: Run) -> str | None:
    """Return the model's cost against a whole request: CPU per request (model against the
    server's CPU per request under load), or in a run before the CPU clock, wall time."""
    splits = [t["decomposition"] for t in run.targets.values() if t.get("decomposition")]
    cpu = [d["cpu"] for d in splits if d.get("cpu") and d["cpu"].get("server_us")]
    if cpu:
        model, totals = cpu[0]["model_us"], [c["server_us"] for c in cpu]
        whole = "of CPU a server spends per request under load"
        clock = (
            "On the CPU clock (in-process benches, and each server's CPU per request at wrk's peak)"
        )
    else:
        wall = [d for d in splits if d.get("http_p50_us")]
        if not wall:
            return None
        model, totals = wall[0]["model_us"], [d["http_p50_us"] for d in wall]
        whole = "single-user request"
        clock = "On the wall clock (this run has no CPU clock)"
    lo, hi = min(totals), max(totals)
    share = _span(_share(model / hi), _share(model / lo))
    pace = (
        "so the framework, server and kernel set the pace, not the model"
        if model / lo < MODEL_MOOT_SHARE
        else "so the model is a large part of the cost"
    )
    return (
        f"{clock}, the model costs {fmt(model, 'us')} µs of the "
        f"{_span(fmt(lo, 'us'), fmt(hi, 'us'))} µs {whole} ({share}), {pace}."
    )


def _span(low: str, high: str) -> str:
    return low if low == high else f"{low}{DASH}{high}"


def _share(fraction: float) -> str:
    return f"{fraction * 100:.1f} %" if fraction < 0.1 else f"{fraction * 100:.0f} %"


def _bad_input_sentence(run: Run) -> str | None:
    if run.matrix:
        return _matrix_sentence(run)
    counts = {n: bad_input(t) for n, t in run.targets.items() if t.get("invalid_mix")}
    counts = {n: c for n, c in counts.items() if c["sent"]}
    if not counts:
        return None
    seed = {n: c for n, c in counts.items() if run.targets[n].get("handler") == "seed"}
    valid = {n: c for n, c in counts.items() if n not in seed}
    parts = []
    for name, c in seed.items():
        parts.append(
            f"the article's unvalidated handler ({name}) answered 5xx to "
            f"{c['server_errors']:,} of {c['sent']:,} bad bodies in the invalid mix"
        )
    if valid:
        sent = sum(c["sent"] for c in valid.values())
        ok = sum(c["as_expected"] for c in valid.values())
        errors = sum(c["server_errors"] for c in valid.values())
        parts.append(
            f"the {len(valid)} validated targets answered {ok:,} of {sent:,} with the "
            f"catalogue's status ({errors:,} 5xx)"
        )
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _matrix_sentence(run: Run) -> str:
    rows = run.matrix.rows if run.matrix else []
    by_target: dict[str, list[MatrixRow]] = defaultdict(list)
    for row in rows:
        by_target[row.target].append(row)
    parts = []
    for name, cells in by_target.items():
        errors = sum(1 for c in cells if (c.status or 0) >= 500)
        ok = sum(1 for c in cells if c.status is not None and c.status == c.expected_status)
        parts.append(f"{name} {ok}/{len(cells)} as catalogued, {errors} 5xx")
    return "Across the invalid-input catalogue: " + "; ".join(parts) + "."
