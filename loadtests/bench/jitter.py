"""Repeat one ladder step against one target and show how much its latency moves.

``python -m loadtests.bench.jitter --target flask --rate 1000`` (``make jitter``) starts
one target pinned to the server core, then (after one step that warms it up, not counted)
offers the same Poisson schedule (one seed) ``--steps`` times back to back with the
bench's own open-loop client (its own process on the load-generator core, real-time
priority), and prints each step's p50, p99, p99.9, service p99 and send-lag p99, with the
spread of each over the steps.

Each step also records the CPU that other processes used on the server core (the busy
time of the core, /proc/stat, minus the server's own; the stall meter's ~2 % included):
a kernel thread or a stray process there competes with the server without stopping the
meter. Beside it, a stall meter runs on the server core at real-time priority (SCHED_FIFO): a
loop that sleeps 0.5 ms and records how late it woke. Being real-time, it preempts the
server at once, so a late wake-up means the core itself was taken away (the hypervisor
ran another guest, an interrupt storm), not that the server was busy. When the steps'
p99 moves while the meter saw no stall, the machine did not stop: the server ran slower
or faster, and its p50 moves with it. That is how this project learned why the p99 at low
offered rates moves more from run to run than the ±25 % its issue asked for (README).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loadtests.bench.config import default_cores
from loadtests.bench.steps import LADDER_TIMEOUT_S, STEP_WARMUP_S
from loadtests.bench.sweep.probe import CoreMeter
from loadtests.common.procs import Ledger
from loadtests.common.servers import launch, verify
from loadtests.common.stats import deviation_from_median
from loadtests.loadgen.stepworker import StepWorker, raise_priority
from loadtests.targets import TARGETS, get_target
from shared_model import EXAMPLE

SLEEP_S = 0.0005  # the stall meter's nap
LATE_MS = (0.5, 2.0)  # a wake-up later than this counts as a stall
METER_START_S = 60.0  # how long a spawned stall meter may take to start napping
# A fresh server's first step pays its warm-up (p99 5.2 ms against 1.1-1.7 ms after, on
# flask at 1,000 req/s); in the bench, Locust's phases have warmed it before any step.
WARMUP_STEPS = 1
FIGURES = ("p50_ms", "p99_ms", "p999_ms", "service_p99_ms", "send_lag_p99_ms")


@dataclass(frozen=True)
class Stalls:
    """What the stall meter saw: its wake-ups, how many were late, by how much at most."""

    scheduling: str  # what raise_priority got: "SCHED_FIFO 1", "nice -10" or "normal"
    wakeups: int
    late_over_0_5_ms: int
    late_over_2_ms: int
    max_late_ms: float


def summarise_stalls(
    events: list[tuple[float, float]], wakeups: int, max_late_s: float, scheduling: str
) -> Stalls:
    """Return the meter's figures from its late wake-ups ((time, lateness s), each later
    than LATE_MS[0]), its count of wake-ups and the largest lateness of any."""
    return Stalls(
        scheduling=scheduling,
        wakeups=wakeups,
        late_over_0_5_ms=sum(1 for _, s in events if s * 1000 > LATE_MS[0]),
        late_over_2_ms=sum(1 for _, s in events if s * 1000 > LATE_MS[1]),
        max_late_ms=round(max_late_s * 1000, 3),
    )


def stalls_between(events: list[tuple[float, float]], start: float, end: float) -> dict:
    """Return the count and the longest (ms) of the late wake-ups between start and end
    (time.monotonic() seconds, one clock for every process)."""
    inside = [s for t, s in events if start <= t <= end]
    return {"stalls": len(inside), "longest_stall_ms": round(max(inside, default=0.0) * 1000, 3)}


def _meter(core: int | None, ready: Event, stop: Event, out: Any) -> None:
    """Nap SLEEP_S at a time on core until stop is set; send back what was late, and when.
    Sets ready once it is napping, so no step runs before the meter watches."""
    if core is not None:
        os.sched_setaffinity(0, {core})
    # As the open-loop client: real time where allowed. Below it (nice, normal) a late
    # wake-up may only mean the server held the core; the output names what it got.
    scheduling = raise_priority()
    events: list[tuple[float, float]] = []
    wakeups, worst = 0, 0.0
    before = time.monotonic()
    ready.set()
    while not stop.is_set():
        time.sleep(SLEEP_S)
        now = time.monotonic()
        late = max(0.0, now - before - SLEEP_S)
        wakeups, worst = wakeups + 1, max(worst, late)
        if late * 1000 > LATE_MS[0]:
            events.append((now, late))
        before = now
    out.put({"scheduling": scheduling, "wakeups": wakeups, "max_late_s": worst, "events": events})


def run(
    target: str, rate: float, steps: int, step_s: float, seed: int, log: Path
) -> dict[str, Any]:
    """Start the target, run the steps beside the stall meter, stop everything by PID."""
    server_cores, lg_cores = default_cores()
    proc, url = launch(get_target(target), cores=server_cores, log_path=log)
    context = multiprocessing.get_context("spawn")
    ready, stop, queue = context.Event(), context.Event(), context.Queue()
    meter = context.Process(
        target=_meter, args=(server_cores[0] if server_cores else None, ready, stop, queue)
    )
    worker: StepWorker | None = None
    results: list[dict[str, Any]] = []
    try:
        expected = verify(url, "onnx").predict
        worker = StepWorker(lg_cores, Ledger(None))
        meter.start()
        # A spawned process takes its imports' time to start: on a busy machine two short
        # steps could end before it naps once, and the steps would go unwatched.
        if not ready.wait(timeout=METER_START_S):
            raise RuntimeError(f"the stall meter did not start within {METER_START_S:.0f} s")
        body = json.dumps(EXAMPLE).encode()
        times = []
        for n in range(WARMUP_STEPS + steps):
            start, core = time.monotonic(), CoreMeter(proc, server_cores)
            result = worker.run(
                f"{url}/predict",
                rate,
                step_s,
                body=body,
                expected=expected,
                seed=seed,
                warmup_s=STEP_WARMUP_S,  # as the bench's ladder steps
                timeout_s=LADDER_TIMEOUT_S,
            )
            if n >= WARMUP_STEPS:
                row = {k: getattr(result, k) for k in ("sent", "ok", "failed", "dropped", *FIGURES)}
                row["server_cpu_pct"], row["others_cpu_pct"] = core.read()
                results.append(row)
                times.append((start, time.monotonic()))
        stop.set()
        seen = queue.get(timeout=30)
    finally:
        stop.set()
        if meter.pid is not None:
            meter.join(timeout=30)
            if meter.is_alive():  # it should have seen stop; end it by its PID
                meter.terminate()
                meter.join(timeout=5)
        if worker is not None:
            worker.close()
        proc.stop()
    events = [(t, late) for t, late in seen["events"]]
    for row, (start, end) in zip(results, times, strict=True):
        row.update(stalls_between(events, start, end))
    stalls = summarise_stalls(events, seen["wakeups"], seen["max_late_s"], seen["scheduling"])
    spreads = {
        k: deviation_from_median([r[k] for r in results if r[k] is not None]) for k in FIGURES
    }
    calm = [r["p99_ms"] for r in results if not r["stalls"] and r["p99_ms"] is not None]
    return {
        "target": target,
        "offered_rps": rate,
        "step_s": step_s,
        "seed": seed,
        "client_scheduling": worker.scheduling if worker else None,
        "server_cores": list(server_cores or []),
        "server_pid": proc.pid,
        "steps": results,
        "spread": spreads,
        "stalls": asdict(stalls),
        "calm_steps": len(calm),  # steps during which the meter saw no stall
        "calm_p99_ms": statistics.median(calm) if calm else None,
        "calm_p99_spread": deviation_from_median(calm),
    }


def table(found: dict[str, Any]) -> Table:
    """Return the steps and their spread as a rich table."""
    out = Table(
        title=f"{found['target']} at {found['offered_rps']:g} req/s, "
        f"{len(found['steps'])} identical steps of {found['step_s']:g} s (seed {found['seed']})"
    )
    out.add_column("step")
    for key in ("sent", "failed", "dropped", *FIGURES):
        out.add_column(key.removesuffix("_ms") + (" ms" if key.endswith("_ms") else ""))
    out.add_column("core stalls (longest ms)")
    out.add_column("others' CPU % on the core")
    for n, row in enumerate(found["steps"], 1):
        cells = [str(row[k]) for k in ("sent", "failed", "dropped")]
        cells += ["-" if row[k] is None else f"{row[k]:.3f}" for k in FIGURES]
        cells.append(f"{row['stalls']} ({row['longest_stall_ms']:g})" if row["stalls"] else "0")
        others = row["others_cpu_pct"]
        cells.append("-" if others is None else f"{others:.1f}")
        out.add_row(str(n), *cells)
    cells = ["", "", ""]
    cells += ["-" if found["spread"][k] is None else f"±{found['spread'][k]:.0%}" for k in FIGURES]
    out.add_row("spread", *cells, "", "")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the steps, print the table and the meter's line; --json writes both."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench.jitter",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--target", default="flask", choices=sorted(TARGETS), help="the target")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered req/s (Poisson)")
    parser.add_argument("--steps", type=int, default=12, help="identical steps (default 12)")
    parser.add_argument("--step", type=float, default=0.8, help="measured seconds a step")
    parser.add_argument("--seed", type=int, default=0, help="the schedule's seed (every step)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.steps < 2 or args.rate <= 0 or args.step <= 0:
        parser.error("--steps must be at least 2, --rate and --step positive")
    log = (args.json or Path("results") / "jitter.json").with_suffix(".server.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    found = run(args.target, args.rate, args.steps, args.step, args.seed, log)
    Console(width=160).print(table(found))
    s = found["stalls"]
    print(
        f"stall meter on the server core ({s['scheduling']}): {s['wakeups']} wake-ups, "
        f"{s['late_over_0_5_ms']} late by more than 0.5 ms, {s['late_over_2_ms']} by more "
        f"than 2 ms, at most {s['max_late_ms']} ms"
    )
    if found["calm_p99_spread"] is not None:
        print(
            f"p99 over the {found['calm_steps']} steps without a core stall: median "
            f"{found['calm_p99_ms']:.3f} ms, spread ±{found['calm_p99_spread']:.0%}"
        )
    if args.json:
        args.json.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
