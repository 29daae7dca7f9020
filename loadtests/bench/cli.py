"""Run the bench: ``python -m loadtests.bench`` (options in ``loadtests.bench.options``), its
settings checked, the run (``loadtests.bench.runner``), and its summary on the terminal."""

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

from loadtests.bench.config import (
    DEFAULT,
    QUICK,
    SERVER_INSTANCES,
    SPARE_ROUNDS,
    RunSettings,
    default_cores,
)
from loadtests.bench.options import DEFAULT_AA, build_parser
from loadtests.bench.progress import Reporter
from loadtests.bench.runner import Bench
from loadtests.common.net import is_loopback
from loadtests.common.procs import ProcessError, can_pin
from loadtests.common.runfiles import Summary
from loadtests.targets import DEFAULT_TARGETS, QUICK_TARGETS, TARGETS


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
    aa = _aa(args.aa, targets, args.url, parser)
    if args.spare_rounds is not None and args.spare_rounds < 0:
        parser.error("--spare-rounds must not be negative")
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
        confidence=args.confidence,
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
        instances=1 if args.url else (args.instances or SERVER_INSTANCES),
        aa=aa,
        spare_rounds=_pick(args.spare_rounds, SPARE_ROUNDS, 0, q),
        alone=not args.no_alone,
        matrix=not (args.no_matrix or q),
        overload_s=max(0.0, args.overload),
    )


def _aa(
    value: str | None, targets: tuple[str, ...], url: str | None, parser: argparse.ArgumentParser
) -> str | None:
    """Return the A/A target: the one given, FastAPI def by default when it is measured."""
    if url or value == "none":
        return None
    if value is None:
        return DEFAULT_AA if DEFAULT_AA in targets else None
    if value not in targets:
        parser.error(f"--aa {value}: not a target of this run ({', '.join(targets)})")
    return value


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
