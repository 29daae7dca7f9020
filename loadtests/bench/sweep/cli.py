"""The model-cost sweep: how the FastAPI:Flask throughput ratio moves as the model gets dearer.

    python -m loadtests.bench.sweep [--rounds 3] [--quick] [--out DIR]

Parses the options, runs the sweep into its run folder and prints the ratio and /health
tables; exit status 0 on success, 1 on failure, 130 on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from loadtests.bench.config import default_cores
from loadtests.bench.sweep.files import DEFAULT, QUICK, Ending, SweepSettings
from loadtests.bench.sweep.runner import Sweeper
from loadtests.bench.sweep.tables import health_table, ratio_table
from loadtests.common.procs import ProcessError
from loadtests.targets import TARGETS
from shared_model import Settings

DEFAULT_TARGETS = ("flask", "fastapi", "flask-granian", "fastapi-granian", "fastapi-async")
DEFAULT_COSTS = ("noop", "onnx", "sklearn", "burn:1000", "burn:2000", "burn:5000")


def _names(text: str) -> list[str]:
    return [n for n in text.replace(",", " ").split() if n]


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench.sweep",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--targets",
        type=_names,
        default=list(DEFAULT_TARGETS),
        help=f"targets, comma- or space-separated (default: {','.join(DEFAULT_TARGETS)})",
    )
    parser.add_argument(
        "--costs",
        type=_names,
        default=list(DEFAULT_COSTS),
        help=f"model backends (FVF_BACKEND) (default: {','.join(DEFAULT_COSTS)})",
    )
    parser.add_argument("--rounds", type=int, help=f"rounds (default {DEFAULT.rounds})")
    parser.add_argument(
        "--duration", type=int, help=f"seconds of wrk per visit (default {DEFAULT.duration_s})"
    )
    parser.add_argument(
        "--warmup", type=float, help=f"warm-up seconds per server (default {DEFAULT.warmup_s})"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--probe-rate", type=float, default=50.0, help="/health probes/s (50)")
    parser.add_argument("--out", type=Path, help="run folder (default results/sweep-<UTC time>)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK.rounds} round, {QUICK.duration_s} s visits, {QUICK.warmup_s} s warm-up",
    )
    return parser


def settings_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> SweepSettings:
    """Check the arguments and return the sweep's settings."""
    preset = QUICK if args.quick else DEFAULT
    unknown = [n for n in args.targets if n not in TARGETS]
    if unknown or not args.targets:
        parser.error(f"unknown target(s) {unknown}; known: {', '.join(TARGETS)}")
    for cost in args.costs:
        try:
            Settings(backend=cost)
        except ValidationError as exc:
            parser.error(exc.errors()[0]["msg"])
    if not args.costs:
        parser.error("give at least one model cost")
    server_cores, lg_cores = default_cores()
    settings = SweepSettings(
        targets=list(dict.fromkeys(args.targets)),
        costs=list(dict.fromkeys(args.costs)),
        rounds=args.rounds if args.rounds is not None else preset.rounds,
        duration_s=args.duration if args.duration is not None else preset.duration_s,
        warmup_s=args.warmup if args.warmup is not None else preset.warmup_s,
        connections=args.connections,
        probe_rate=args.probe_rate,
        server_cores=list(server_cores) if server_cores else None,
        lg_cores=list(lg_cores) if lg_cores else None,
        quick=args.quick,
    )
    if settings.rounds < 1 or settings.duration_s < 1 or settings.connections < 1:
        parser.error("--rounds, --duration and --connections must be at least 1")
    if settings.probe_rate <= 0:
        parser.error("--probe-rate must be positive")
    return settings


def make_run_dir(out: Path | None) -> Path:
    """Create the run folder: out, or results/sweep-<UTC time>/."""
    if out is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = Path("results") / f"sweep-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; print the ratio table; 0 on success, 1 on failure, 130 on Ctrl-C."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = settings_from(args, parser)
    run_dir = make_run_dir(args.out)
    visits = len(settings.costs) * settings.rounds * len(settings.targets)
    print(
        f"sweep: {len(settings.targets)} targets x {len(settings.costs)} costs x "
        f"{settings.rounds} rounds = {visits} visits of {settings.duration_s} s -> {run_dir}/",
        flush=True,
    )
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    sweeper: Sweeper | None = None
    status: Ending = "complete"
    error = None
    try:
        sweeper = Sweeper(settings, run_dir)
        sweeper.run()
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted (Ctrl-C or SIGTERM)"
    except Exception as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, ProcessError):
            traceback.print_exc()
    finally:
        if sweeper is not None:
            with contextlib.suppress(KeyboardInterrupt):
                sweeper.finish(status, error)
        signal.signal(signal.SIGTERM, previous)
    if sweeper is None:
        print(f"sweep {status}: {error}", file=sys.stderr)
        return 130 if status == "interrupted" else 1
    sweep = sweeper.sweep
    print(f"\nFastAPI:Flask throughput (wrk, c={settings.connections}), median [range] of rounds")
    print(ratio_table(sweep))
    print(f"\n/predict throughput and /health p99 under that load ({settings.probe_rate:g}/s)")
    print(health_table(sweep))
    print(f"\n{sweep.status} in {sweep.wall_s} s: {run_dir}/sweep.json, sweep.csv")
    if error:
        print(f"sweep {status}: {error}", file=sys.stderr)
    return {"complete": 0, "failed": 1, "interrupted": 130}[status]
