"""The verdict: three or four sentences computed from a run's figures, never typed."""

from __future__ import annotations

import math
from collections import defaultdict

from loadtests.report.format import DASH, TIMES, fmt
from loadtests.report.load import PAIRS, Data, Pair, Ratio, Run, bad_input, fixed_at, ratio
from loadtests.report.view import describe


def _repeats_text(r: Ratio) -> str:
    if r.low is None or r.high is None:
        return "one repeat, no spread measured"
    return f"median of {r.repeats} repeats, per-repeat {r.low:.2f}{DASH}{r.high:.2f}{TIMES}"


def _peak_rps(run: Run, name: str) -> str:
    return fmt(((run.targets.get(name) or {}).get("peak") or {}).get("rps"), "rps")


def _pair(run: Run, name: str) -> tuple[Pair, Ratio] | None:
    pair = next(p for p in PAIRS if p.name == name)
    if not {pair.numerator, pair.denominator} <= set(run.targets):
        return None
    r = ratio(run, pair.numerator, pair.denominator, "peak", "rps")
    return (pair, r) if r else None


def verdict(run: Run) -> list[str]:
    """Return the verdict: three or four sentences computed from the run's figures."""
    out: list[str] = []
    env = run.summary.get("environment") or {}
    cores = len(env.get("server_cores") or [])
    pinned = f"server pinned to {cores} core{'s' if cores > 1 else ''}" if cores else "unpinned"
    machine = f"{env.get('cpu_model') or 'unknown CPU'}, {pinned}"
    default, same = _pair(run, "default"), _pair(run, "granian")
    if default:
        out.append(_framework_sentence(run, *default, f"On this machine ({machine}), ") + ".")
    if same:
        text = _framework_sentence(run, *same, "Under the same server (granian), ")
        if default and not same[1].within_noise and not default[1].within_noise:
            d, g = math.log(default[1].value), math.log(same[1].value)
            if d * g < 0:
                text += ": the order flips, so the servers decide the default ranking"
            elif abs(g) < 0.5 * abs(d):
                text += ": most of the default gap is the server, not the framework"
            else:
                text += ": most of the gap is the framework itself"
        elif default and same[1].within_noise and not default[1].within_noise:
            text += ": the default gap is the servers', not the frameworks'"
        elif default and default[1].within_noise and not same[1].within_noise:
            text += ": the framework difference shows only when the server is held constant"
        out.append(text + ".")
    if not out:
        out.append(
            f"On this machine ({machine}), no like-for-like FastAPI:Flask pair was measured."
        )
    handler = _pair(run, "handler")
    if handler:
        pair, r = handler
        word = "within the noise of" if r.within_noise else f"{r.value:.2f}{TIMES}"
        out[-1] = out[-1][:-1] + (
            f"; FastAPI's async def handler reaches {word} its def handler's peak "
            f"({_peak_rps(run, pair.numerator)} vs {_peak_rps(run, pair.denominator)} req/s)."
        )
    model = _model_sentence(run)
    if model:
        out.append(model)
    bad = _bad_input_sentence(run)
    if bad:
        out.append(bad)
    return out


def _framework_sentence(run: Run, pair: Pair, r: Ratio, prefix: str) -> str:
    a, b = run.targets[pair.numerator], run.targets[pair.denominator]
    rps_a, rps_b = _peak_rps(run, pair.numerator), _peak_rps(run, pair.denominator)
    if r.within_noise:
        return (
            f"{prefix}{describe(a)} and {describe(b)} peaked within the noise of each other "
            f"on /predict ({rps_a} vs {rps_b} req/s, {r.value:.2f}{TIMES}, {_repeats_text(r)})"
        )
    fast, slow, fr, sr = (a, b, rps_a, rps_b) if r.value > 1 else (b, a, rps_b, rps_a)
    return (
        f"{prefix}{describe(fast)} served {max(r.value, 1 / r.value):.2f}{TIMES} "
        f"{describe(slow)}'s peak /predict throughput ({fr} vs {sr} req/s, {_repeats_text(r)})"
    )


def _model_sentence(run: Run) -> str | None:
    parts = [
        (n, t["decomposition"])
        for n, t in run.targets.items()
        if t.get("decomposition") and t["decomposition"].get("http_p50_us")
    ]
    if not parts:
        return None
    model = parts[0][1]["model_us"]
    totals = [d["http_p50_us"] for _, d in parts]
    lo, hi = min(totals), max(totals)
    share = _span(_share(model / hi), _share(model / lo))
    span = _span(fmt(lo, "us"), fmt(hi, "us"))
    text = (
        f"The model costs {fmt(model, 'us')} µs of a {span} µs single-user request "
        f"({share}), so the framework, server and client set the pace, not the model"
    )
    p99: list[tuple[str, float]] = [
        (n, float(v))
        for n, t in run.targets.items()
        if (v := (fixed_at(t) or {}).get("p99_ms")) is not None
    ]
    if len(p99) >= 2:
        best, worst = min(p99, key=lambda x: x[1]), max(p99, key=lambda x: x[1])
        text += (
            f"; at 80 % of each target's capacity, p99 ranges from {fmt(best[1], 'ms')} ms "
            f"({best[0]}) to {fmt(worst[1], 'ms')} ms ({worst[0]})"
        )
    return text + "."


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
    rows = run.matrix or []
    by_target: dict[str, list[Data]] = defaultdict(list)
    for row in rows:
        by_target[row["target"]].append(row)
    parts = []
    for name, cells in by_target.items():
        errors = sum(1 for c in cells if (c["status"] or 0) >= 500)
        ok = sum(1 for c in cells if c["status"] is not None and c["status"] == c["expected"])
        parts.append(f"{name} {ok}/{len(cells)} as catalogued, {errors} 5xx")
    return "Across the invalid-input catalogue: " + "; ".join(parts) + "."
