"""Run one step: a seeded Poisson schedule, a fresh uvloop, the figures filled afterwards."""

from __future__ import annotations

import asyncio
import gc
import math
from collections.abc import Sequence
from urllib.parse import urlsplit

import numpy as np
import uvloop
from hdrh.histogram import HdrHistogram

from loadtests.common.hdr import HIGHEST_US, LOWEST_US, encode, figures, new_histogram
from loadtests.loadgen.openloop._http import build_request
from loadtests.loadgen.openloop._result import StepResult
from loadtests.loadgen.openloop._step import Step

WARMUP_S = 1.0
TIMEOUT_S = 2.0
MAX_CONNECTIONS = 512


def poisson_schedule(rate: float, duration_s: float, seed: int) -> np.ndarray:
    """Return the send offsets (s) of a Poisson process of ``rate`` per second over duration_s."""
    if rate <= 0 or duration_s <= 0:
        return np.empty(0)
    rng = np.random.default_rng(seed)
    expected = rate * duration_s
    chunk = int(expected + 10 * math.sqrt(expected) + 16)
    gaps = rng.exponential(1.0 / rate, size=chunk)
    offsets = np.cumsum(gaps)
    while offsets[-1] < duration_s:  # rare: draw more from the same stream
        more = np.cumsum(rng.exponential(1.0 / rate, size=chunk)) + offsets[-1]
        offsets = np.concatenate([offsets, more])
    return offsets[offsets < duration_s]


def _histogram(values_s: Sequence[float]) -> HdrHistogram:
    """Fill a histogram (us) from seconds in one pass over the distinct values."""
    histogram = new_histogram()
    if values_s:
        micros = np.clip(np.rint(np.asarray(values_s) * 1e6), LOWEST_US, HIGHEST_US)
        distinct, counts = np.unique(micros.astype(np.int64), return_counts=True)
        for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
            histogram.record_value(value, count)
    return histogram


async def _run(
    url: str,
    offsets: list[float],
    rate: float,
    duration_s: float,
    body: bytes,
    expected: bytes,
    warmup_s: float,
    timeout_s: float,
    max_connections: int,
    idle_pool: int,
    bound_s: float | None,
) -> StepResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    raw = build_request(host, port, body)
    step = Step(host, port, raw, expected, offsets, warmup_s, timeout_s, max_connections, idle_pool)
    step.start()
    try:
        await step.all_sent
        # Every request has a deadline the sweep enforces, so this ends; the bound is a guard.
        await asyncio.wait_for(asyncio.shield(step.all_done), timeout_s + 5.0)
    finally:
        step.close()
        await asyncio.sleep(0)  # let the transports run their connection_lost
    cpu0, wall0, cpu1, wall1 = step.cpu_window or (0.0, 0.0, 0.0, 0.0)
    cpu, wall = cpu1 - cpu0, wall1 - wall0
    hist, service_hist = _histogram(step.latency), _histogram(step.service)
    lat, service = figures(hist, mean=False), figures(service_hist, mean=False)
    return StepResult(
        offered_rps=rate,
        duration_s=duration_s,
        sent=step.sent,
        ok=step.ok,
        failed=step.failed,
        dropped=step.dropped,
        achieved_rps=round(step.ok / duration_s, 1) if duration_s > 0 else 0.0,
        p50_ms=lat["p50_ms"],
        p90_ms=lat["p90_ms"],
        p99_ms=lat["p99_ms"],
        p999_ms=lat["p999_ms"],
        max_ms=lat["max_ms"],
        service_p50_ms=service["p50_ms"],
        service_p99_ms=service["p99_ms"],
        send_lag_p99_ms=figures(_histogram(step.lag), mean=False)["p99_ms"],
        wait_p99_ms=figures(_histogram(step.wait), mean=False)["p99_ms"],
        client_cpu_us_per_request=round(cpu / step.sent * 1e6, 1) if step.sent else None,
        client_cpu_percent=round(100 * cpu / wall, 1) if wall > 0 else 0.0,
        connections_opened=step.opened,
        over=sum(1 for s in step.latency if s > bound_s) if bound_s is not None else 0,
        errors=dict(step.errors.most_common(10)),
        latency_hdr=encode(hist),
        service_hdr=encode(service_hist),
        balanced=step.sent == step.ok + step.failed + step.dropped and step.ended_twice == 0,
    )


def run_step(
    url: str,
    rate: float,
    duration_s: float,
    *,
    body: bytes,
    expected: bytes,
    seed: int = 0,
    warmup_s: float = WARMUP_S,
    timeout_s: float = TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
    idle_pool: int = 0,
    bound_s: float | None = None,
) -> StepResult:
    """Offer POST /predict at ``rate`` (Poisson) for warmup_s + duration_s; measure the window.

    With ``bound_s``, the result counts the ok answers slower than it (``over``), exactly, from
    the raw latencies rather than the histogram's buckets.

    Runs a fresh uvloop in the caller's thread (pin that thread to the generator's core
    beforehand). ``idle_pool`` > 0 keeps that many connections open ahead of need, as a
    badly behaved client does; it exists for the gunicorn experiment, not for the bench.
    """
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    offsets = poisson_schedule(rate, warmup_s + duration_s, seed).tolist()
    enabled = gc.isenabled()
    gc.disable()  # a collection pause would show up as send lag
    try:
        result: StepResult = uvloop.run(
            _run(
                url,
                offsets,
                rate,
                duration_s,
                body,
                expected,
                warmup_s,
                timeout_s,
                max_connections,
                idle_pool,
                bound_s,
            )
        )
    finally:
        if enabled:
            gc.enable()
        gc.collect()
    if not result.balanced:
        raise RuntimeError(
            f"request accounting broken: sent {result.sent} != ok {result.ok} + failed "
            f"{result.failed} + dropped {result.dropped}"
        )
    return result
