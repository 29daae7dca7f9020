"""The README's reference table: one run's headline figures and CPU split, with its stamp,
spliced between two markers (``make reference``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from loadtests.report import view
from loadtests.report.format import fmt, fmt_spread
from loadtests.report.load import Run, common_rate, curve_index, figure, load_run, ranked_source

REFERENCE_START = "<!-- reference:start -->"
REFERENCE_END = "<!-- reference:end -->"


def reference_block(run: Run) -> str:
    """Return the README's reference table of a run, with its stamp line."""
    env = run.summary.get("environment") or {}
    settings = run.summary.get("settings") or {}
    git = env.get("git") or {}
    commit = (git.get("commit") or "")[:12] or "not recorded"
    warned = sum(len(group["items"]) for group in view.warnings(run))
    date = str(run.summary.get("started_at") or run.run_id)[:10]
    rate = common_rate(run)
    at = f"at {rate:,.0f} req/s" if rate is not None else "at the lowest rate"
    slo = settings.get("slo_ms")
    source = ranked_source(run)  # the verdict's tool first, the other beside it as context
    phases = (source.phase, source.context_phase)
    ranked, context = (view.THROUGHPUT_HEADINGS[p] for p in phases)
    lines = [
        f"| target | {ranked} | {context} · context | sustainable req/s (p99 ≤ {slo} ms) "
        f"| p99 ms {at} | /predict : noop | invalid-mix errors "
        "| server CPU µs / req, user + kernel |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, target in run.targets.items():
        closed = [
            fmt(figure(run, f"{name}.{p}.rps"), "rps")
            + ("" if (target.get(p) or {}).get("valid", True) else " (invalid)")
            for p in phases
        ]
        sustained = target.get("sustainable_rps") or {}
        text = fmt(figure(run, f"{name}.sustainable_rps.median"), "rps")
        if sustained.get("median") is not None and sustained.get("at_least"):
            text = "≥" + text
        ci = fmt_spread((sustained.get("low"), sustained.get("high")), "rps")
        index = curve_index(target, rate)
        p99 = figure(run, f"{name}.latency_curve.{index}.p99_ms") if index is not None else None
        lines.append(
            f"| `{name}` | {closed[0]} | {closed[1]} "
            f"| {text}{f' ({ci})' if ci else ''} | {fmt(p99, 'ms')} "
            f"| {fmt((target.get('ratios') or {}).get('predict_to_noop'), 'ratio')} "
            f"| {fmt(figure(run, f'{name}.invalid_mix.error_rate'), 'pct')} "
            f"| {_split_text(target)} |"
        )
    preset = "quick preset, " if settings.get("quick") else ""
    server = view.join_list(env.get("server_cores"))
    load = view.join_list(env.get("load_generator_cores"))
    caveat = (
        f"its report raises {warned} warning(s), so read these figures as indicative"
        if warned
        else "its report raises no warning"
    )
    calibration = (run.summary.get("calibration") or {}).get("median_ms")
    speed = f", CPU calibration {calibration:.0f} ms" if calibration else ""
    stamp = (
        f"Reference run `{run.run_id}` of {date}, commit {commit}, on {env.get('cpu_model', '?')} "
        f"({env.get('cpu_count', '?')} cores; server on core {server}, load on core {load}"
        f"{speed}); "
        f"{preset}{settings.get('duration_s')} s phases in {_rounds_text(run, settings)}; "
        f"{caveat}. Regenerate with `make reference REF=results/<run>`; do not edit by hand."
    )
    return "\n".join([stamp, "", *lines])


def _rounds_text(run: Run, settings: dict[str, Any]) -> str:
    """Return how many rounds the run measured and how many of them were flagged."""
    rounds = run.summary.get("rounds") or []
    if not rounds:
        return f"{settings.get('rounds', 1)} round(s)"
    flagged = sum(1 for r in rounds if r.get("flags"))
    return f"{len(rounds)} round(s), {flagged} flagged and left out of its verdicts"


def _split_text(target: dict[str, Any]) -> str:
    """Return a target's server CPU per request as "user + kernel" µs (a dash: not split)."""
    split = target.get("cpu_split") or {}
    user, kernel = split.get("user_us"), split.get("kernel_us")
    if user is None or kernel is None:
        return fmt(None, "us")
    return f"{user:,.0f} + {kernel:,.0f}"


def splice(text: str, block: str) -> str:
    """Return text with block between the reference markers (which must appear once each)."""
    if text.count(REFERENCE_START) != 1 or text.count(REFERENCE_END) != 1:
        raise ValueError(f"expected one {REFERENCE_START} and one {REFERENCE_END} marker")
    head, rest = text.split(REFERENCE_START)
    _, tail = rest.split(REFERENCE_END)
    return f"{head}{REFERENCE_START}\n\n{block.strip()}\n\n{REFERENCE_END}{tail}"


def write_reference(run_dir: Path, readme: Path, keep: Path | None) -> Path:
    """Splice the run's reference table into readme, keeping its summary.json in keep."""
    run = load_run(run_dir)
    if keep is not None and keep.resolve() != run.path.resolve():
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run.path / "summary.json", keep / "summary.json")
    readme.write_text(splice(readme.read_text("utf-8"), reference_block(run)), "utf-8")
    return readme
