"""Measure the machine's own noise: a fixed CPU calibration per round, and the flag rule.

The calibration is a tight pure-Python loop of fixed work, timed a few times in a short
child process pinned to the server's cores (the runner itself sits on the load
generator's core, which must not be measured). Run before and after a round, it shows
whether the machine got slower or faster meanwhile (frequency scaling, a noisy
neighbour), and its median tells two machines apart. The hypervisor's steal time decides
whether a round was disturbed and must be left out of the verdicts (``round_flags``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtests.common.runfiles import CalibrationFigures, RoundInfo

LOOPS = 3_000_000  # about 120 ms of pure-Python work per repeat on this machine, uncontended
REPEATS = 5
# A calibration this far from another is out of line: a round's closing reading is then taken
# again at once, and a gap to a target alone is put on the machine (``loadtests.bench.gap``).
DRIFT_LIMIT = 0.10
STEAL_LIMIT_PCT = 5.0  # percent of one core

# Runs in the child: pin first, then time the same loop ``repeats`` times.
_CHILD = """
import json, os, sys, time
loops, repeats, cores = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
if cores:
    os.sched_setaffinity(0, cores)

def work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total

work(loops // 10)  # warm the interpreter's caches once
times, cpu = [], []
for _ in range(repeats):
    start, start_cpu = time.perf_counter(), time.process_time()
    work(loops)
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
print(json.dumps({"times": times, "cpu": cpu, "cores": sorted(os.sched_getaffinity(0))}))
"""


@dataclass(frozen=True)
class Calibration:
    """Timings of the fixed loop: best and median seconds, and loops per second at best.

    Wall-clock times are what a server on these cores would get; ``cpu_best_s`` is the
    CPU time of the best repeat, which leaves out time the core spent on other
    processes: wall well above CPU means the core was shared.
    """

    best_s: float
    median_s: float
    score: float  # loops per second of the best repeat (higher: faster machine)
    loops: int
    times_s: tuple[float, ...]
    cpu_best_s: float
    cores: tuple[int, ...]  # the cores it ran on


def calibrate(
    cores: Sequence[int] | None, loops: int = LOOPS, repeats: int = REPEATS
) -> Calibration:
    """Time the fixed loop ``repeats`` times in a child pinned to ``cores`` (None: unpinned)."""
    if loops < 1 or repeats < 1:
        raise ValueError("loops and repeats must be positive")
    argv = [sys.executable, "-c", _CHILD, str(loops), str(repeats), json.dumps(list(cores or []))]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"calibration failed on cores {cores}: {done.stderr.strip()}")
    out = json.loads(done.stdout)
    times = tuple(float(t) for t in out["times"])
    best = min(times)
    return Calibration(
        best_s=best,
        median_s=statistics.median(times),
        score=loops / best,
        loops=loops,
        times_s=times,
        cpu_best_s=min(float(t) for t in out["cpu"]),
        cores=tuple(out["cores"]),
    )


def drift(before: Calibration, after: Calibration) -> float:
    """Return the relative change of the best time from before to after (+0.1: 10 % slower)."""
    return (after.best_s / after.loops) / (before.best_s / before.loops) - 1


def out_of_line(reference: Calibration, reading: Calibration) -> bool:
    """Tell whether a calibration differs from a reference by more than DRIFT_LIMIT."""
    return abs(drift(reference, reading)) > DRIFT_LIMIT


def round_flags(steal_pct: float | None) -> list[str]:
    """Return why a round was disturbed (empty: clean); a missing figure flags nothing.

    A round is disturbed when the hypervisor's steal time passed STEAL_LIMIT_PCT: over six
    default runs on the Intel Xeon VM (29 rounds) a round's steal tracked how far all its
    targets' wrk figures sat below their medians (correlation -0.83), while the calibration's
    drift over the round did not (+0.10), nor how far its pairs' ratios moved (+0.05; steal
    +0.36). The calibration is shown with every round, and flags nothing: what the machine
    took from a target while it was measured is checked on each wrk pass instead (the
    server's share of its cores, ``loadtests.bench.results.SATURATION_LIMIT_PCT``).
    """
    if steal_pct is not None and steal_pct > STEAL_LIMIT_PCT:
        return [
            f"steal time {steal_pct:.1f} % of a core during the round (limit {STEAL_LIMIT_PCT:g} %)"
        ]
    return []


def figures_of(calibration: Calibration | None) -> CalibrationFigures | None:
    """Return a calibration as summary.json records it (None stays None)."""
    if calibration is None:
        return None
    return CalibrationFigures(
        best_ms=round(calibration.best_s * 1000, 2),
        median_ms=round(calibration.median_s * 1000, 2),
        score=round(calibration.score),
    )


def median_figures(calibrations: Sequence[Calibration]) -> CalibrationFigures | None:
    """Return the median calibration of a run (None before the first)."""
    if not calibrations:
        return None
    return CalibrationFigures(
        best_ms=round(statistics.median(c.best_s for c in calibrations) * 1000, 2),
        median_ms=round(statistics.median(c.median_s for c in calibrations) * 1000, 2),
        score=round(statistics.median(c.score for c in calibrations)),
    )


def round_info(
    rnd: int,
    started_at: str,
    wall_s: float,
    before: Calibration | None,
    after: Calibration | None,
    resources: Mapping[str, Any],
    spike: Calibration | None = None,
) -> RoundInfo:
    """Return one round's record: its calibrations, the machine's noise, and its flags.

    ``spike`` is a closing calibration that was out of line and came back in line when taken
    again at once: shown, and flags nothing (``after`` is the retake)."""
    steal = resources.get("steal_pct")
    steal_pct = float(steal) if isinstance(steal, int | float) and steal is not True else None
    other = resources.get("other_cpu_pct")
    return RoundInfo(
        round=rnd,
        started_at=started_at,
        wall_s=round(wall_s, 1),
        calibration_before=figures_of(before),
        calibration_after=figures_of(after),
        calibration_spike=figures_of(spike),
        drift=round(drift(before, after), 4) if before and after else None,
        steal_pct=steal_pct,
        other_cpu_pct=float(other) if isinstance(other, int | float) else None,
        flags=round_flags(steal_pct),
    )
