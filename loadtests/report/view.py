"""Lay out a loaded run for the templates: headline and ratio tables, warnings, method."""

from __future__ import annotations

import shlex
from typing import Any

from loadtests.report.format import DASH, TIMES, cell, fmt, ratio_cell
from loadtests.report.load import (
    LOCUST_WRK_TOLERANCE,
    PAIRS,
    SPREAD_WARN_LATENCY,
    SPREAD_WARN_RPS,
    Data,
    Pair,
    Ratio,
    Run,
    all_phases,
    fixed_at,
    ratio,
    relative_spread,
)

HEADLINE: tuple[tuple[str, str, str], ...] = (
    # (key under the target, unit, column heading)
    ("peak.rps", "rps", "peak req/s"),
    ("fixed_rate@80.p50_ms", "ms", "p50 ms at 80 %"),
    ("fixed_rate@80.p99_ms", "ms", "p99 ms at 80 %"),
    ("invalid_mix.error_rate", "pct", "invalid-mix errors"),
    ("derived.bad_5xx", "count", "bad bodies → 5xx"),
    ("derived.cpu_us_per_request", "us", "CPU µs / req"),
    ("derived.peak_rss_mb", "mb", "peak RSS MiB"),
)
RATIO_FIGURES: tuple[tuple[str, str, str, str], ...] = (
    # (figure, phase, key, heading); a ratio is numerator / denominator
    ("rps", "peak", "rps", "peak req/s"),
    ("p99", "fixed", "p99_ms", "p99 at 80 %"),
    ("cpu", "fixed", "cpu_us_per_request", "CPU / req"),
)
SATURATED_PCT = 75.0  # a peak with the server below this CPU % of a core is not its limit
SERVER_LABEL = {"gunicorn": "gunicorn sync", "uvicorn": "uvicorn", "granian": "granian"}


def describe(target: Data) -> str:
    """Return a target's framework, handler and server in words."""
    framework = {"flask": "Flask", "fastapi": "FastAPI"}.get(str(target.get("framework")), "?")
    handler = {"seed": "article's handler", "def": "def", "async": "async def"}.get(
        str(target.get("handler")), str(target.get("handler"))
    )
    server = SERVER_LABEL.get(str(target.get("server")), str(target.get("server")))
    if target.get("framework") == "flask":
        return f"{framework} ({server}{', unvalidated' if handler != 'def' else ''})"
    return f"{framework} ({server}, {handler})"


def headline(run: Run) -> list[dict[str, Any]]:
    """Return one headline row per target: its cells in HEADLINE order."""
    rows = []
    for name, target in run.targets.items():
        cells = [cell(run, f"{name}.{key}", unit) for key, unit, _ in HEADLINE]
        peak = target.get("peak") or {}
        rows.append(
            {
                "name": name,
                "label": describe(target),
                "status": target.get("status"),
                "level": peak.get("users"),
                "bound": bool(peak.get("load_generator_bound")),
                "cells": cells,
            }
        )
    return rows


def ratio_rows(run: Run, kind: str) -> list[dict[str, Any]]:
    """Return the pair rows of one kind ("framework" or "other") present in the run."""
    rows = []
    for pair in PAIRS:
        if pair.kind != kind or not {pair.numerator, pair.denominator} <= set(run.targets):
            continue
        ratios = {
            fig: ratio(run, pair.numerator, pair.denominator, phase, key)
            for fig, phase, key, _ in RATIO_FIGURES
        }
        cells = [ratio_cell(f"pair.{pair.name}.{fig}", ratios[fig]) for fig, *_ in RATIO_FIGURES]
        rows.append({"pair": pair, "cells": cells, "reading": reading(pair, ratios["rps"])})
    return rows


def reading(pair: Pair, r: Ratio | None) -> str:
    """Return how a throughput ratio reads: who is faster and whether it is noise."""
    if r is None:
        return "not measured"
    if r.within_noise:
        return "within the noise: a tie"
    winner = pair.numerator if r.value > 1 else pair.denominator
    return f"{winner} {max(r.value, 1 / r.value):.2f}{TIMES} the throughput"


# --- warnings -------------------------------------------------------------------------


def _phase_name(phase: Data) -> str:
    if phase.get("kind") == "fixed" and phase.get("fraction") is not None:
        return f"fixed rate {float(phase['fraction']):.0%}"
    return str(phase.get("phase") or "?")


LG, SPREAD, WRK, IDLE, OTHER = (
    "Load-generator-bound figures",
    "Wide spread between repeats",
    "Locust and wrk disagree by more than 10 %",
    "Server not saturated at its peak",
    "Other flags raised by the run",
)
WARNING_NOTES = {
    LG: "The busiest Locust process was above 90 % of a core: these figures measure the "
    "load generator, not the server.",
    SPREAD: f"(max - min) / median over repeats above {SPREAD_WARN_RPS:.0%} (req/s) or "
    f"{SPREAD_WARN_LATENCY:.0%} (p99): a difference smaller than the spread is noise.",
    WRK: "Locust's peak against wrk at the same number of connections: the lower of the two "
    "may be limited by its own generator; check the load-generator CPU.",
    IDLE: f"The server used under {SATURATED_PCT:.0f} % of a core at its best sweep level: "
    "something else (the load generator, other processes on the machine, too few levels) "
    "held it back, so the peak is a lower bound on the server's capacity.",
}


def warnings(run: Run) -> list[dict[str, Any]]:
    """Return the warnings the reader must see, grouped: [{title, note, items}]."""
    settings = run.summary.get("settings") or {}
    groups: dict[str, list[str]] = {"Run": [], LG: [], SPREAD: [], WRK: [], IDLE: [], OTHER: []}
    status = run.summary.get("status")
    if status != "complete":
        error = run.summary.get("error")
        groups["Run"].append(
            f"the run's status is {status!r}{f' ({error})' if error else ''}: figures are partial"
        )
    if settings.get("quick"):
        groups["Run"].append(
            f"quick run ({settings.get('duration_s')} s phases): indicative, not a benchmark"
        )
    if (settings.get("repeats") or 1) < 2:
        groups["Run"].append("one repeat: no spread measured, so no difference is proven")
    for name, target in run.targets.items():
        if target.get("status") not in (None, "complete"):
            groups["Run"].append(f"{name}: {target.get('status')} ({target.get('error')})")
        for phase in [*all_phases(target), (target.get("controls") or {}).get("noop")]:
            if phase and phase.get("load_generator_bound"):
                groups[LG].append(
                    f"{name}, {_phase_name(phase)}: Locust at {phase.get('lg_cpu_max_pct')} % "
                    "of a core"
                )
        peak, fixed = target.get("peak"), fixed_at(target)
        checks = (
            (peak, "rps", "rps", "peak req/s", SPREAD_WARN_RPS),
            (fixed, "p99_ms", "ms", "p99 ms at 80 % of peak", SPREAD_WARN_LATENCY),
        )
        for phase, key, unit, label, limit in checks:
            spread = relative_spread(phase, key)
            if phase and spread is not None and spread > limit:
                low, high = phase["spread"][key]
                groups[SPREAD].append(
                    f"{name}, {label}: {fmt(low, unit)}{DASH}{fmt(high, unit)} over "
                    f"{phase.get('repeats')} repeats ({spread:.0%} of the median)"
                )
        cpu = (peak or {}).get("server_cpu_pct")
        if cpu is not None and cpu < SATURATED_PCT:
            groups[IDLE].append(
                f"{name}: {cpu:.0f} % of a core at {fmt((peak or {}).get('rps'), 'rps')} req/s "
                f"(c={(peak or {}).get('users')})"
            )
        vs_wrk = target.get("locust_vs_wrk")
        if vs_wrk is not None and abs(vs_wrk - 1) > LOCUST_WRK_TOLERANCE:
            wrk = target.get("wrk") or {}
            groups[WRK].append(
                f"{name}: Locust's peak {fmt((peak or {}).get('rps'), 'rps')} req/s is "
                f"{vs_wrk:.2f}{TIMES} wrk's {fmt(wrk.get('rps'), 'rps')} req/s at "
                f"{wrk.get('connections')} connections"
            )
        for flag in target.get("flags") or []:
            if not flag.startswith(("load_generator_bound", "Locust peak is")):
                groups[OTHER].append(f"{name}: {flag}")
    names = tuple(f"{n}: " for n in run.summary.get("targets") or {})
    for text in run.summary.get("warnings") or []:
        if not text.startswith(names):
            groups[OTHER].append(text)
    return [
        {"title": k, "note": WARNING_NOTES.get(k, ""), "items": v} for k, v in groups.items() if v
    ]


# --- method ---------------------------------------------------------------------------

_FLAGS = (
    ("targets", "--targets"),
    ("levels", "--levels"),
    ("duration_s", "--duration"),
    ("warmup_s", "--warmup"),
    ("server_warmup_s", "--server-warmup"),
    ("repeats", "--repeats"),
    ("fixed_fractions", "--fixed-rates"),
    ("invalid_fraction", "--invalid-fraction"),
    ("server_workers", "--server-workers"),
    ("server_cores", "--server-cores"),
    ("lg_cores", "--lg-cores"),
    ("locust_workers", "--locust-workers"),
    ("sample_interval_s", "--sample-interval"),
    ("bench_max_time_s", "--bench-max-time"),
)


def reproduce(summary: Data) -> str:
    """Return the command line that repeats the run with every setting explicit."""
    settings = summary.get("settings") or {}
    if isinstance(settings.get("argv"), list):
        return shlex.join(["python", "-m", "loadtests.bench", *map(str, settings["argv"])])
    argv = ["python", "-m", "loadtests.bench"]
    if settings.get("url"):
        argv += ["--url", settings["url"], "--name", str(settings.get("name"))]
        if settings.get("noop_url"):
            argv += ["--noop-url", settings["noop_url"]]
    for key, flag in _FLAGS:
        value = settings.get(key)
        if value is None or (key == "targets" and settings.get("url")):
            continue
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        argv += [flag, str(value)]
    if settings.get("benches") is False:
        argv.append("--no-benches")
    if settings.get("wrk") is False:
        argv.append("--no-wrk")
    return shlex.join(argv)


def train_command(model: Data) -> str:
    """Return the command that trains the run's model again (same data, seed and rows)."""
    argv = ["python", "-m", "shared_model.train"]
    if model.get("seed") is not None:
        argv += ["--seed", str(model["seed"])]
    if model.get("synthetic"):
        if model.get("raw_rows"):
            argv += ["--rows", str(model["raw_rows"])]
    elif model.get("data_source"):
        argv += ["--data", str(model["data_source"])]
    return shlex.join(argv)


def method(run: Run) -> dict[str, Any]:
    """Return the method and environment facts of the run."""
    s, env = run.summary, run.summary.get("environment") or {}
    settings = s.get("settings") or {}
    model = env.get("model") or {}
    git = env.get("git") or {}
    commit = git.get("commit")
    commit_text = (
        f"{commit[:12]}{' (dirty tree)' if git.get('dirty') else ''}"
        if commit
        else "not recorded (no git commit)"
    )
    data = "synthetic" if model.get("synthetic") else "real (from a file)"
    return {
        "run_id": run.run_id,
        "started_at": s.get("started_at"),
        "finished_at": s.get("finished_at"),
        "wall_s": s.get("wall_s"),
        "status": s.get("status"),
        "mode": s.get("mode"),
        "machine": [
            ("CPU", f"{env.get('cpu_model', '?')}, {env.get('cpu_count', '?')} logical cores"),
            ("OS / kernel", f"{env.get('os', '?')}"),
            ("Python", f"{env.get('python', '?')} ({env.get('python_implementation', '?')})"),
            ("wrk", str(env.get("wrk") or "not used")),
        ],
        "settings": [
            ("server cores", join_list(env.get("server_cores") or settings.get("server_cores"))),
            (
                "load-generator cores",
                join_list(env.get("load_generator_cores") or settings.get("lg_cores")),
            ),
            ("server workers", settings.get("server_workers")),
            ("Locust worker processes", settings.get("locust_workers")),
            ("concurrency levels", join_list(settings.get("levels"))),
            (
                "phase duration / warm-up",
                f"{settings.get('duration_s')} s / {settings.get('warmup_s')} s "
                f"(+{settings.get('server_warmup_s')} s per fresh server)",
            ),
            ("fixed rates (of peak)", join_list(settings.get("fixed_fractions"), pct=True)),
            ("repeats (interleaved)", settings.get("repeats")),
            ("bad bodies in the invalid mix", join_list([settings.get("invalid_fraction")], True)),
            ("resource sampling", f"every {settings.get('sample_interval_s')} s (psutil)"),
            ("quick preset", "yes" if settings.get("quick") else "no"),
        ],
        "model": [
            ("estimator", model.get("model", "?")),
            ("training data", f"{data}: {model.get('data_source', '?')}"),
            (
                "rows (train / test)",
                f"{model.get('train_rows', '?')} / {model.get('test_rows', '?')}",
            ),
            ("held-out accuracy", _num(model.get("held_out_accuracy"))),
            ("held-out ROC AUC", _num(model.get("held_out_roc_auc"))),
            ("served as", "ONNX Runtime, one single-threaded session (FVF_BACKEND=onnx)"),
        ],
        "packages": sorted((env.get("packages") or {}).items()),
        "commit": commit_text,
        "command": reproduce(s),
        "train": train_command(model),
        "targets": [
            (n, describe(t), shlex.join(t.get("command") or [])) for n, t in run.targets.items()
        ],
        "files": s.get("files") or {},
    }


def join_list(values: Any, pct: bool = False) -> str:
    """Return a list of values as comma-separated text (percentages with pct)."""
    if not values:
        return "not pinned" if values is not None else DASH
    return ", ".join(f"{v:.0%}" if pct and v is not None else str(v) for v in values)


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else DASH
