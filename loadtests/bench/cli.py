"""Benchmark the targets: in-process benches, then interleaved rounds over loopback HTTP.

Every target of loadtests/targets.py (and its noop twin) starts once with its exact
command, pinned to the server core(s), and is verified against shared_model.predict.
Then, round after round, each target in turn: the closed-loop sweep (Locust; every level
in round 1, the peak level after), wrk at 32 connections, the /health and noop controls
and the invalid mix (round 1), and the open-loop ladder of offered rates common to every
target with the search for the sustainable rate under the latency bound. Every
comparison is a ratio paired within rounds, with a 95 % bootstrap interval. Every
server is stopped by PID. Results go to results/<UTC timestamp>/ (results/latest points
to it), summary.json first and rewritten after every phase, so Ctrl-C keeps what was
measured. With --url an already running deployment is measured instead.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from loadtests.bench.config import DEFAULT, QUICK, SERVER_INSTANCES, RunSettings, default_cores
from loadtests.bench.progress import Reporter
from loadtests.bench.runner import Bench
from loadtests.common.net import is_loopback
from loadtests.common.procs import ProcessError, can_pin
from loadtests.common.runfiles import Summary
from loadtests.targets import DEFAULT_TARGETS, QUICK_TARGETS, TARGETS


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


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m loadtests.bench``."""
    d, q = DEFAULT, QUICK
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench",
        description=__doc__,
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
        help="extra warm-up of a freshly started server, before its first phase "
        f"(default {d.server_warmup_s}; --quick {q.server_warmup_s})",
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
        help="offered rates (req/s) of the open-loop ladder, common to every target "
        "(default: chosen from the fastest target's peak in round 1)",
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
        help="wrk runs per target and round: 2 measures each target again after the ladders, "
        "in reverse order, and takes the mean, so a drift across the round cancels "
        f"(default {d.wrk_passes}; --quick {q.wrk_passes})",
    )
    add(
        "--instances",
        type=int,
        metavar="N",
        help="processes of each target's real server, started together; round r measures "
        "process (r-1) %% N + 1, so a process's own speed is sampled inside the run "
        f"(default {SERVER_INSTANCES}; at most --rounds are used; a --url deployment: 1)",
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


def _pick(value: Any, default: Any, quick: Any, is_quick: bool) -> Any:
    if value is not None:
        return value
    return quick if is_quick else default


def settings_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> RunSettings:
    """Validate the arguments and return the run's settings."""
    names: list[str] = []
    for item in args.targets or []:
        names += [n for n in item.replace(",", " ").split() if n]
    if not names:
        names = list(QUICK_TARGETS if args.quick else DEFAULT_TARGETS)
    targets = tuple(TARGETS) if names == ["all"] else tuple(dict.fromkeys(names))
    unknown = [n for n in targets if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    for url in (args.url, args.noop_url):
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                parser.error(f"not an http(s) URL: {url}")
            if not args.allow_remote and not is_loopback(parts.hostname):
                parser.error(f"{url} is not on loopback; pass --allow-remote to load it anyway")
    if args.noop_url and not args.url:
        parser.error("--noop-url needs --url")
    server_cores, lg_cores = default_cores()
    server_cores = args.server_cores or server_cores
    lg_cores = args.lg_cores or lg_cores
    if not can_pin():
        server_cores = lg_cores = None
    if args.locust_workers == "auto":
        workers = max(1, len(lg_cores or ()))
    else:
        try:
            workers = int(args.locust_workers)
        except ValueError:
            parser.error("--locust-workers takes a number or auto")
        if workers < 1:
            parser.error("--locust-workers must be at least 1")
    counts = (args.rounds, args.instances, args.server_workers)
    if any(n is not None and n < 1 for n in counts):
        parser.error("--rounds, --instances and --server-workers must be at least 1")
    if args.step_min_requests is not None and args.step_min_requests < 0:
        parser.error("--step-min-requests must not be negative")
    if not 0 <= args.invalid_fraction <= 1:
        parser.error("--invalid-fraction must be between 0 and 1")
    q = args.quick
    return RunSettings(
        targets=targets,
        levels=_pick(args.levels, DEFAULT.levels, QUICK.levels, q),
        duration_s=_pick(args.duration, DEFAULT.duration_s, QUICK.duration_s, q),
        warmup_s=_pick(args.warmup, DEFAULT.warmup_s, QUICK.warmup_s, q),
        server_warmup_s=_pick(
            args.server_warmup, DEFAULT.server_warmup_s, QUICK.server_warmup_s, q
        ),
        step_s=_pick(args.step, DEFAULT.step_s, QUICK.step_s, q),
        step_min_requests=_pick(
            args.step_min_requests, DEFAULT.step_min_requests, QUICK.step_min_requests, q
        ),
        rounds=_pick(args.rounds, DEFAULT.rounds, QUICK.rounds, q),
        slo_ms=args.slo_ms,
        ladder=args.ladder,
        bench_max_time_s=_pick(
            args.bench_max_time, DEFAULT.bench_max_time_s, QUICK.bench_max_time_s, q
        ),
        quick=q,
        out_dir=args.out,
        url=args.url.rstrip("/") if args.url else None,
        noop_url=args.noop_url.rstrip("/") if args.noop_url else None,
        name=args.name,
        locust_workers=workers,
        invalid_fraction=args.invalid_fraction,
        server_workers=args.server_workers,
        server_cores=server_cores,
        lg_cores=lg_cores,
        sample_interval_s=_pick(
            args.sample_interval, DEFAULT.sample_interval_s, QUICK.sample_interval_s, q
        ),
        benches=not args.no_benches,
        wrk=not args.no_wrk,
        wrk_passes=_pick(args.wrk_passes, DEFAULT.wrk_passes, QUICK.wrk_passes, q),
        instances=args.instances or SERVER_INSTANCES,
        matrix=not (args.no_matrix or q),
        overload_s=max(0.0, args.overload),
    )


def make_run_dir(root: Path) -> Path:
    """Create root/<UTC timestamp>/ and point root/latest at it."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir, n = root / stamp, 1
    while run_dir.exists():
        n += 1
        run_dir = root / f"{stamp}-{n}"
    run_dir.mkdir()
    link = root / "latest"
    tmp = root / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(link)
    return run_dir


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def results_table(summary: Summary) -> Table:
    """Return the headline figures of every target."""
    table = Table(title=f"run {summary.run_id} ({summary.status}, {summary.wall_s} s)")
    for column in (
        "target",
        "peak req/s",
        "wrk req/s",
        "sustainable req/s",
        "predict:noop",
        "noop:health",
        "flags",
    ):
        table.add_column(column, justify="left" if column in ("target", "flags") else "right")

    def num(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for name, t in summary.targets.items():
        sustainable = t.sustainable_rps.median if t.sustainable_rps else None
        table.add_row(
            name,
            f"{num(t.peak.rps if t.peak else None)} (c={t.peak.users if t.peak else '-'})",
            num(t.wrk.rps if t.wrk else None),
            num(sustainable, 0),
            num(t.ratios.predict_to_noop, 2),
            num(t.ratios.noop_to_health, 2),
            str(len(t.flags)) if t.status != "failed" else "FAILED",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    """Run the bench; return 0, 1 on failure, 130 when interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = settings_from(args, parser)
    # Not a terminal (a log, CI): wide enough that the results table is not cut.
    width = None if sys.stderr.isatty() else 160
    console = Console(stderr=True, highlight=False, soft_wrap=True, width=width)
    if settings.lg_cores:
        # The runner itself samples and logs: keep it off the server's cores.
        os.sched_setaffinity(0, settings.lg_cores)
    run_dir = make_run_dir(settings.out_dir)
    console.print(f"results: {run_dir}  (targets: {' '.join(settings.subjects)})")
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    reporter = Reporter(settings.planned_s(), console)
    bench = Bench(settings, run_dir, reporter)
    status, error, code = "complete", None, 0
    try:
        with reporter:
            bench.run()
    except KeyboardInterrupt:
        status, error, code = "interrupted", "interrupted by a signal", 130
        console.print("[yellow]interrupted: stopping every process this run started[/yellow]")
    except ProcessError as exc:
        status, error, code = "failed", str(exc), 1
        console.print(f"[red]failed:[/red] {exc}")
    except Exception as exc:
        status, error, code = "failed", f"{type(exc).__name__}: {exc}", 1
        console.print(traceback.format_exc())
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        with contextlib.ExitStack() as stack:
            old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            stack.callback(signal.signal, signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            stack.callback(signal.signal, signal.SIGTERM, previous)
            summary = bench.finish(status, error)
    console.print(results_table(summary))
    for warning in summary.warnings:
        console.print(f"  [yellow]![/yellow] {warning}")
    console.print(f"results in {run_dir}/ (also {settings.out_dir}/latest): summary.json")
    return code


if __name__ == "__main__":
    sys.exit(main())
