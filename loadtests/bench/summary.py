"""Fold raw phase figures into summary.json's: medians over rounds, ratios, the split.

The file's layout is ``loadtests.common.runfiles.Summary``; this module computes what goes
in it. A success is an answer that is exactly the verified one (status and body), or for
a bad body of the invalid mix exactly its catalogue status.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

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
# In-process benches that stand for each (framework, handler) in the decomposition.
REQUEST_BENCH = {
    ("flask", "seed"): "test_flask_request[seed]",
    ("flask", "def"): "test_flask_request[validated]",
    ("fastapi", "def"): "test_fastapi_request[def]",
    ("fastapi", "async"): "test_fastapi_request[async]",
}
MODEL_BENCH = "test_predict[onnx]"
VALIDATION_BENCH = "test_parse_and_validate"
# The benches the decomposition reads: the only ones timed on the CPU clock as well.
CPU_BENCHES = (*REQUEST_BENCH.values(), MODEL_BENCH, VALIDATION_BENCH)
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
        elif key == "valid":  # valid over rounds only if valid in every round
            out[key] = all(present)
        elif key == "invalid_reason":
            out[key] = next((v for v in present if v), None)
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
    out["repeats"] = len(runs)  # rounds that measured this phase
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
    server_cpu_us: float | None,
) -> Figures | None:
    """Return the per-request split (us): on the wall clock, model, validation, framework and
    server+network (HTTP p50 at one user); on the CPU clock, model, validation, framework
    and server and kernel, adding up to server_cpu_us (the server's CPU per request)."""
    request = benchmarks.get(REQUEST_BENCH.get((framework or "", handler or ""), ""))
    model = benchmarks.get(MODEL_BENCH)
    single = next((p for p in sweep if p.get("users") == 1 and p.get("p50_ms")), None)
    if request is None or model is None:
        return None
    validation = {} if handler == "seed" else benchmarks.get(VALIDATION_BENCH) or {}
    wall = _split(request, model, validation)
    http = single["p50_ms"] * 1000 if single else None
    cpu = None
    if all(b.get("cpu") for b in (request, model, validation) if b):
        cpu = _split(request["cpu"], model["cpu"], validation.get("cpu"))
        rest = server_cpu_us - cpu["in_process_us"] if server_cpu_us is not None else None
        cpu["server_kernel_us"] = round(rest, 3) if rest is not None else None
        cpu["server_us"] = server_cpu_us
    return {
        **wall,
        "http_p50_us": http,
        "server_network_us": round(http - wall["in_process_us"], 2) if http is not None else None,
        "cpu": cpu,
    }


def _split(request: Figures, model: Figures, validation: Figures | None = None) -> Figures:
    """Return model, validation and framework (the request minus both) on one clock."""
    in_process, model_us = request["median_us"], model["median_us"]
    validation_us = (validation or {}).get("median_us", 0.0)
    return {
        "model_us": model_us,
        "validation_us": validation_us,
        "framework_us": round(in_process - model_us - validation_us, 3),
        "in_process_us": in_process,
    }
