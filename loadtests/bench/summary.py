"""summary.json: every figure of a bench run, with its settings and environment.

Written by ``python -m loadtests.bench`` into ``results/<UTC timestamp>/summary.json``,
first when the run starts and again after every phase, so an interrupted run keeps
what it measured (``status`` says how it ended). Units are in the key names:
``_ms`` milliseconds, ``_us`` microseconds, ``rps`` requests per second, ``_pct``
percent of one core (100 = one core busy; psutil/top convention), ``_mb`` MiB,
``_s`` seconds. A figure that could not be measured is ``null``.

Top level::

    schema         "flask-vs-fastapi/bench-summary/1"
    status         "running" | "complete" | "interrupted" | "failed"
    error          what stopped the run (null when complete)
    run_id, started_at, finished_at (ISO 8601, UTC), wall_s
    mode           "local" (servers started by the run) | "url" (--url deployment)
    settings       every option of the run (levels, durations, repeats, cores, ...)
    environment    cpu_model, cpu_count, kernel, os, python, packages (installed),
                   locked_packages (requirements.lock), git {commit, dirty} | null,
                   model (shared_model.read_metadata), wrk version, cores used
    benchmarks     in-process pytest-benchmark results by test name, e.g.
                   "test_predict[onnx]": {median_us, mean_us, min_us, max_us,
                   stddev_us, iqr_us, ops, rounds, group}
    targets        {name: Target}, in run order
    warnings       ["flask: load_generator_bound in sweep c=64", ...]
    files          paths (relative to the run folder) of the raw files below
    units          the unit conventions above

Target::

    name, framework, handler, server, description, command (argv, placeholders filled),
    url (of the last server), status ("complete" | "partial" | "failed"), error,
    repeats (completed), locust_workers
    sweep          [Phase, ...] one per concurrency level (closed loop, POST /predict)
    peak           Phase: the sweep level with the highest rps (its "users" is the level)
    controls       {"health": Phase (GET /health at the peak level),
                    "noop": Phase (POST /predict, FVF_BACKEND=noop server, peak level)}
    ratios         {"predict_to_noop": peak.rps / noop.rps (model cost; goal >= 0.85),
                    "noop_to_health": noop.rps / health.rps (parsing, validation, handler)}
    fixed_rate     [Phase + {"fraction": 0.5, "target_rps": ...,
                    "service_p50_ms"... (from actual send), "send_lag_p99_ms"}, ...]
                   latency keys measured from the intended send time (open loop);
                   target_rps = fraction x capacity, where capacity is the lower of
                   the Locust peak and wrk's figure (Locust alone without wrk)
    invalid_mix    Phase + {"bad_fraction", "by_case": {case: {status: n}}}
    wrk            {rps, requests, non_2xx, socket_errors, connections, duration_s,
                    mean_ms, min_ms, p50_ms, p90_ms, p99_ms, p999_ms, max_ms,
                    lg_cpu_max_pct, server_cpu_pct, ..., files}
    locust_vs_wrk  peak.rps / wrk.rps (goal: within 10 % unless load-generator-bound)
    decomposition  per-request microseconds: model_us, validation_us, framework_us,
                   in_process_us (benchmarks), http_p50_us (sweep at 1 user),
                   server_network_us (http - in-process); null without both sources
    flags          ["load_generator_bound in sweep c=64", ...]
    overload       only with --overload S, validated targets: loadtests.robustness.overload's result
                   {peak_rps, factor, sent, ok, failed, timed_out, recovered_after_s,
                   server_alive, client_bound, ...}

The invalid-input matrix (every case of loadtests/robustness/cases.py sent once to each target,
first repeat only) is written beside summary.json as invalid_matrix.csv and
invalid_matrix.json (``files.invalid_matrix``); see loadtests/robustness/matrix.py.

Phase (one measured phase; with repeats, medians over repeats)::

    phase, kind ("closed" | "fixed"), path, users, locust_workers, duration_s,
    requests, successes, failures (counts, summed over repeats; requests =
    successes + failures), completed (answered), incomplete (fixed rate: slots
    in the window not answered by the end, counted as failures),
    rps (answered requests per second), good_rps (successes per second), error_rate,
    mean_ms, min_ms, p50_ms, p90_ms, p99_ms, p999_ms, max_ms (successful answers,
    exact, HdrHistogram), by_status {"200": n, ...}, errors {message: n},
    lg_cpu_max_pct (busiest load-generator process), lg_cpu_mean_pct,
    lg_cpu_total_max_pct, server_cpu_pct (mean, whole process tree),
    server_cpu_max_pct, server_rss_mb (max), samples, load_generator_bound (bool: one
    load-generator process, all of them, or their cores above 90 % busy),
    other_cpu_pct (CPU used by processes outside the run: a shared machine),
    lg_cores_busy_pct, server_cores_busy_pct (mean busy time of those cores, any process),
    disturbed (bool: other_cpu_pct above 25, figures less trustworthy),
    files [{"hdr": ..., "percentiles_csv": ...} per repeat, relative to the run folder],
    repeats, spread {figure: [min, max] over repeats}

A success is an answer that is exactly the verified one (status and body), or for a
bad body of the invalid mix exactly its catalogue status.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = "flask-vs-fastapi/bench-summary/1"
COUNT_KEYS = frozenset(
    {
        "requests",
        "completed",
        "successes",
        "failures",
        "incomplete",
        "scheduled",
        "samples",
        "duration_s",
        "non_2xx",
        "socket_errors",
    }
)
COUNTER_KEYS = frozenset({"by_status", "by_case", "errors"})
# What identifies a phase rather than measures it: the same in every repeat, no spread.
IDENTITY_KEYS = frozenset({"users", "locust_workers", "fraction", "bad_fraction", "connections"})
UNITS = {
    "rps": "requests per second",
    "_ms": "milliseconds",
    "_us": "microseconds",
    "_pct": "percent of one core (100 = one core fully busy)",
    "_mb": "MiB",
    "_s": "seconds",
}
# In-process benches that stand for each (framework, handler) in the decomposition.
REQUEST_BENCH = {
    ("flask", "seed"): "test_flask_request[seed]",
    ("flask", "def"): "test_flask_request[validated]",
    ("fastapi", "def"): "test_fastapi_request[def]",
    ("fastapi", "async"): "test_fastapi_request[async]",
}
MODEL_BENCH = "test_predict[onnx]"
VALIDATION_BENCH = "test_parse_and_validate"
Figures = dict[str, Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _add_counters(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Add up count dictionaries, nested one level ({case: {status: n}}) or flat."""
    flat: Counter[str] = Counter()
    nested: dict[str, Counter[str]] = {}
    for item in items:
        for key, value in item.items():
            if isinstance(value, dict):
                nested.setdefault(key, Counter()).update(value)
            else:
                flat[key] += value
    return {k: dict(v) for k, v in nested.items()} if nested else dict(flat)


def aggregate(runs: list[Figures]) -> Figures:
    """Combine the same phase over repeats: counts summed, figures median, spread min/max."""
    runs = [r for r in runs if r]
    if not runs:
        return {}
    out: Figures = {}
    spread: dict[str, list[float]] = {}
    for key in runs[0]:
        values = [r.get(key) for r in runs]
        present = [v for v in values if v is not None]
        if key in COUNTER_KEYS:
            out[key] = _add_counters(v for v in present if isinstance(v, dict))
        elif key == "files":
            out[key] = [f for v in present for f in (v if isinstance(v, list) else [v])]
        elif key in IDENTITY_KEYS:
            out[key] = present[0] if present else None
        elif present and all(isinstance(v, bool) for v in present):
            out[key] = any(present)
        elif present and all(_is_number(v) for v in present):
            if key in COUNT_KEYS:
                out[key] = round(sum(present), 3) if key == "duration_s" else sum(present)
            else:
                out[key] = round(statistics.median(present), 3)
                spread[key] = [min(present), max(present)]
        else:
            out[key] = present[0] if present else None
    out["repeats"] = len(runs)
    out["spread"] = spread
    return out


def ratio(numerator: Figures | None, denominator: Figures | None, key: str = "rps") -> float | None:
    """Return numerator[key] / denominator[key], or None when either is missing or zero."""
    if not numerator or not denominator:
        return None
    a, b = numerator.get(key), denominator.get(key)
    if not a or not b:
        return None
    return round(float(a) / float(b), 3)


def peak_of(sweep: list[Figures]) -> Figures | None:
    """Return the sweep level with the highest throughput."""
    return max(sweep, key=lambda p: p.get("rps") or 0.0, default=None)


def decomposition(
    framework: str | None,
    handler: str | None,
    sweep: list[Figures],
    benchmarks: dict[str, Figures],
) -> Figures | None:
    """Return the per-request split (us): model, validation, framework, server+network."""
    request = benchmarks.get(REQUEST_BENCH.get((framework or "", handler or ""), ""))
    model = benchmarks.get(MODEL_BENCH)
    single = next((p for p in sweep if p.get("users") == 1 and p.get("p50_ms")), None)
    if request is None or model is None:
        return None
    validation = (
        0.0 if handler == "seed" else (benchmarks.get(VALIDATION_BENCH) or {}).get("median_us", 0.0)
    )
    in_process = request["median_us"]
    http = single["p50_ms"] * 1000 if single else None
    return {
        "model_us": model["median_us"],
        "validation_us": validation,
        "framework_us": round(in_process - model["median_us"] - validation, 2),
        "in_process_us": in_process,
        "http_p50_us": http,
        "server_network_us": round(http - in_process, 2) if http is not None else None,
    }


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8"
    )
    tmp.replace(path)
