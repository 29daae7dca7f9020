"""The command line of ``python -m loadtests.bench``: every option, its default and its check.

``cli`` turns the parsed options into the run's settings and runs it; the option types here
refuse bad input (a bound that is not a positive number, a confidence outside (0, 1), rates
that do not increase) with one line, before anything starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from loadtests.bench.config import DEFAULT, QUICK, SERVER_INSTANCES, SPARE_ROUNDS
from loadtests.targets import DEFAULT_TARGETS, TARGETS

DESCRIPTION = """Benchmark the targets: in-process benches, then interleaved rounds over loopback
HTTP.

Each round visits every target of loadtests/targets.py in turn (the order rotating a place a
round), each visit on a fresh server process started with the table's exact command, pinned
to the server core(s), verified against shared_model.predict and stopped by PID right after:
wrk at 32 connections before and after the open-loop ladder; in round 1 the Locust sweep,
the /health and noop controls, the invalid mix, and the climb of the ladder of offered rates
common to every target; later rounds measure the rungs fixed after round 1. One target
(--aa) is measured twice, as two independent targets: the A/A control. Every comparison has
a 95 % interval (throughput: ratios paired within rounds; sustainable throughput and latency:
every round's answers pooled, judged by MLPerf LoadGen's early-stopping rule, rounds
resampled). After the rounds each target runs alone: one wrk pass to check the run against,
its system calls (strace), the invalid-input matrix. Results go to results/<UTC timestamp>/
(results/latest points to it), summary.json first and rewritten after every phase, so Ctrl-C
keeps what was measured. With --url an already running deployment is measured instead.
"""

# The A/A control's default: FastAPI def, whose process speed moves most (`make drift`:
# block-to-block CV 4.4 % against 2.0 % for flask and 1.7 % for fastapi-async).
DEFAULT_AA = "fastapi"


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def _rates(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers, got {text!r}") from None
    if not values or min(values) <= 0 or list(values) != sorted(set(values)):
        raise argparse.ArgumentTypeError("rates must be positive and increasing")
    return values


def _number(text: str, low: float, high: float, what: str) -> float:
    """Return text as a number strictly between low and high, or refuse it in one line."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low < value < high:  # NaN fails every comparison
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _positive(text: str) -> float:
    return _number(text, 0.0, float("inf"), "a positive number")


def _confidence(text: str) -> float:
    return _number(text, 0.0, 1.0, "a number in (0, 1)")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m loadtests.bench``."""
    d, q = DEFAULT, QUICK
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--targets",
        nargs="+",
        metavar="NAME",
        help="targets to measure, space- or comma-separated, or all (default: "
        f"{' '.join(DEFAULT_TARGETS)}; all: {' '.join(TARGETS)})",
    )
    add(
        "--levels",
        type=_ints,
        metavar="N,N,...",
        help="concurrency levels of the closed-loop sweep, in users "
        f"(default {','.join(map(str, d.levels))}; --quick {','.join(map(str, q.levels))})",
    )
    add(
        "--duration",
        type=_positive,
        metavar="S",
        help=f"measured seconds per phase (default {d.duration_s}; --quick {q.duration_s}); "
        "wrk runs the same, rounded to whole seconds",
    )
    add(
        "--warmup",
        type=float,
        metavar="S",
        help=f"unmeasured seconds before each phase (default {d.warmup_s}; --quick {q.warmup_s})",
    )
    add(
        "--server-warmup",
        type=float,
        metavar="S",
        help="uncounted wrk seconds on every fresh server process before it is measured (whole "
        f"seconds, 0 for none; default {d.server_warmup_s}; --quick {q.server_warmup_s})",
    )
    add(
        "--rounds",
        type=int,
        metavar="N",
        help="measure in N interleaved rounds (each round visits every target in turn); "
        "every comparison is a ratio paired within a round, reported with a 95 %% bootstrap "
        f"interval (default {d.rounds}; --quick {q.rounds})",
    )
    add(
        "--slo-ms",
        type=_positive,
        default=25.0,
        metavar="MS",
        help="latency bound of the sustainable throughput: the highest offered rate whose p99 "
        "stays within it with nothing failed or dropped (default %(default)s)",
    )
    add(
        "--confidence",
        type=_confidence,
        default=0.99,
        metavar="C",
        help="confidence of MLPerf LoadGen's early-stopping rule, which decides each rung on "
        "every round's answers pooled (default %(default)s, LoadGen's)",
    )
    add(
        "--step",
        type=_positive,
        metavar="S",
        help=f"measured seconds of one open-loop ladder step (default {d.step_s}; "
        f"--quick {q.step_s})",
    )
    add(
        "--step-min-requests",
        type=int,
        metavar="N",
        help="a ladder step lasts at least long enough to offer N requests, so a slow rung's "
        f"p99 rests on enough answers (default {d.step_min_requests}; --quick "
        f"{q.step_min_requests}: --step only)",
    )
    add(
        "--ladder",
        type=_rates,
        metavar="R,R,...",
        help="offered rates (req/s) of round 1's open-loop climb, common to every target "
        "(default: 250, 500, 1000, 1500, 2000, 3000, 4000, 6000 ... from 500, or 250 for a "
        "target slower than 1000 req/s, to 1.25x each target's own wrk peak)",
    )
    add(
        "--quick",
        action="store_true",
        help="short run: the default pair only (--targets to change), one level, two rounds "
        "of short phases (about a minute; its verdicts will mostly say undecided)",
    )
    add(
        "--out",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="results root; the run goes to DIR/<UTC timestamp>/, DIR/latest points to it "
        "(default results)",
    )
    add(
        "--url",
        metavar="URL",
        help="measure this running deployment (e.g. http://127.0.0.1:8000) instead of "
        "starting local servers; no server CPU figures, noop control only with --noop-url",
    )
    add(
        "--noop-url",
        metavar="URL",
        help="with --url: the same deployment started with FVF_BACKEND=noop, for the control",
    )
    add("--name", default="url", help="with --url: the name of the deployment in the results")
    add(
        "--allow-remote",
        action="store_true",
        help="allow --url to name a host other than loopback (off: load stays on this machine)",
    )
    add(
        "--locust-workers",
        default="auto",
        metavar="N|auto",
        help="Locust worker processes (master/worker when N > 1); auto: one per load-generator "
        "core, so 1 on a 2-core machine (default auto)",
    )
    add(
        "--invalid-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="share of bad bodies (robustness.cases, in_mix) in the invalid mix (default 0.2)",
    )
    add(
        "--server-workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes of every server (the table's {workers}; default 1)",
    )
    add(
        "--server-cores",
        type=_ints,
        metavar="LIST",
        help="cores the servers (and in-process benches) are pinned to (default: the first)",
    )
    add(
        "--lg-cores",
        type=_ints,
        metavar="LIST",
        help="cores the load generators (Locust, wrk) are pinned to (default: the others)",
    )
    add(
        "--sample-interval",
        type=_positive,
        metavar="S",
        help="psutil sampling interval for CPU and memory "
        f"(default {d.sample_interval_s}; --quick {q.sample_interval_s})",
    )
    add(
        "--bench-max-time",
        type=_positive,
        metavar="S",
        help="pytest-benchmark --benchmark-max-time per bench "
        f"(default {d.bench_max_time_s}; --quick {q.bench_max_time_s})",
    )
    add("--no-benches", action="store_true", help="skip the in-process pytest-benchmark benches")
    add("--no-wrk", action="store_true", help="skip the wrk cross-check")
    add(
        "--wrk-passes",
        type=int,
        choices=(1, 2),
        help="wrk runs per visit: 2 measures each target again after its ladder and takes the "
        f"mean (default {d.wrk_passes}; --quick {q.wrk_passes})",
    )
    add(
        "--instances",
        type=int,
        metavar="N",
        help="fresh server processes measured by wrk in each visit (the first also takes the "
        "rest of the visit); the round's throughput is their mean, so more processes narrow "
        "the process-to-process part of the interval, as pyperf's worker processes do "
        f"(default {SERVER_INSTANCES}; a --url deployment: 1)",
    )
    add(
        "--spare-rounds",
        type=int,
        metavar="N",
        help="run one more round for each round the machine disturbed (flagged, left out of "
        f"the verdicts), at most N (default {SPARE_ROUNDS}; --quick 0)",
    )
    add(
        "--aa",
        metavar="TARGET|none",
        help="the target measured a second time as an independent target of its own fresh "
        "processes, compared with itself like any pair: the A/A control, which must come out "
        "a tie or undecided (default fastapi when it is measured; none to leave it out)",
    )
    add(
        "--no-alone",
        action="store_true",
        help="skip the targets alone after the rounds (the standalone wrk pass to check the "
        "run against, and the system-call count)",
    )
    add(
        "--no-matrix",
        action="store_true",
        help="skip the invalid-input matrix (every case of loadtests/robustness/cases.py, once per "
        "target; --quick skips it too: `make invalid` runs it alone)",
    )
    add(
        "--overload",
        type=float,
        default=0.0,
        metavar="S",
        help="also drive each validated target at twice its peak for S seconds and watch it "
        "recover (default 0: off; 30 is the issue's figure)",
    )
    return parser
