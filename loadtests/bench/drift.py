"""Measure a throughput ratio in several sets of fresh servers: does it move between sets
more than between the blocks of one set?

``python -m loadtests.bench.drift --targets flask fastapi fastapi-async`` (``make drift``)
runs ``--sets`` sets. Each set starts every target afresh, pinned to the server core,
times the bench's CPU calibration there, and warms each target with one wrk pass that is
not counted. Then it runs ``--blocks`` blocks: a block gives every target one wrk pass
(the bench's own: 32 connections, 1 s), in an order that rotates from block to block.
Each target is compared with the first, as a ratio paired within the block. Then the set's
servers are stopped by PID.

A set is a short bench run: fresh processes and one stretch of the machine's time.
A ratio's median over a set's blocks has an interval, as a run's median over its rounds
does. Across sets, it prints:
- how far the sets' medians stray from each other;
- the within-set interval's usual half-width;
- a Kruskal-Wallis test of whether the sets' block ratios come from one distribution;
- the between-set standard deviation (one-way random effects, method of moments): the
  part of the ratio that stays fixed within a set and changes between sets.

No repetition inside a run removes that part; only more runs, at other times, measure
it. ``--same-servers`` keeps one set of servers for every set, which splits the
machine's share of that part from the processes'. This is how the project learned why
three default runs' ratios differ by more than the ±5 % its issue asked for (README).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table
from scipy.stats import kruskal

from loadtests.bench.config import WRK_CONNECTIONS, default_cores
from loadtests.bench.noise import calibrate
from loadtests.common.procs import Ledger, Managed, ProcessError, Registry
from loadtests.common.servers import launch
from loadtests.common.stats import deviation_from_median, interval
from loadtests.loadgen import wrk as _wrk
from loadtests.targets import TARGETS, get_target
from shared_model import EXAMPLE

WRK_S = 1.0  # the bench's wrk pass (its 0.8 s phase, rounded up to wrk's whole second)


def block_order(targets: Sequence[str], block: int) -> list[str]:
    """Return the targets in block ``block``'s order: the list rotated by one each block."""
    k = block % len(targets)
    return [*targets[k:], *targets[:k]]


def _cv(values: Sequence[float]) -> float | None:
    return statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else None


def analyse(sets: list[dict[str, list[float | None]]], targets: Sequence[str]) -> dict[str, Any]:
    """Return each set's figures and, for each target against the first, the ratio's
    spread within and between sets. A block figure of None (an invalid wrk pass) leaves
    that block out of the target's ratios."""
    base = targets[0]
    out: dict[str, Any] = {"per_set": [], "contrasts": {}}
    for found in sets:
        row: dict[str, Any] = {"rps": {}, "block_cv": {}, "ratios": {}}
        for name in targets:
            present = [v for v in found[name] if v is not None]
            row["rps"][name] = statistics.mean(present) if present else None
            row["block_cv"][name] = _cv(present)
        for name in targets[1:]:
            pairs = zip(found[name], found[base], strict=True)
            ratios = [a / b for a, b in pairs if a is not None and b]
            iv = interval(ratios)
            row["ratios"][name] = {
                "blocks": ratios,
                "median": iv.median,
                "low": iv.low,
                "high": iv.high,
            }
        out["per_set"].append(row)
    for name in targets[1:]:
        each = [s["ratios"][name] for s in out["per_set"]]
        groups = [r["blocks"] for r in each if r["blocks"]]
        medians = [statistics.median(g) for g in groups]
        halves = [
            (r["high"] - r["low"]) / 2 / r["median"]
            for r in each
            if r["low"] is not None and r["median"]
        ]
        out["contrasts"][name] = {
            "versus": base,
            "set_medians": medians,
            "spread": deviation_from_median(medians),
            "within_half_width": statistics.median(halves) if halves else None,
            "kruskal_p": _kruskal_p(groups),
            "between_sd": between_sd(groups),
        }
    return out


def _kruskal_p(groups: list[list[float]]) -> float | None:
    usable = [g for g in groups if g]
    if len(usable) < 2:
        return None
    try:
        return float(kruskal(*usable).pvalue)
    except ValueError:  # every value identical: nothing to rank
        return None


def between_sd(groups: list[list[float]]) -> float | None:
    """Return the between-group standard deviation relative to the grand mean (one-way
    random effects, method of moments; 0 when the groups differ no more than chance
    allows), or None with fewer than two groups of two."""
    usable = [g for g in groups if len(g) > 1]
    if len(usable) < 2:
        return None
    means = [statistics.mean(g) for g in usable]
    size = statistics.harmonic_mean([len(g) for g in usable])
    within = statistics.mean(statistics.variance(g) for g in usable)
    component = statistics.variance(means) - within / size
    return max(0.0, component) ** 0.5 / statistics.mean(means)


def _threads(pid: int) -> int | None:
    """Return the threads of a server's process tree (a thread pool grows under load)."""
    try:
        root = psutil.Process(pid)
        return sum(p.num_threads() for p in (root, *root.children(recursive=True)))
    except psutil.Error:
        return None


def _start_all(
    targets: Sequence[str], cores: Any, log_dir: Path, ledger: Ledger, registry: Registry
) -> dict[str, tuple[Managed, str]]:
    """Start every target pinned to cores; return each one's process and URL once it answers."""
    return {
        name: launch(
            get_target(name),
            cores=cores,
            log_path=log_dir / f"{name}.log",
            ledger=ledger,
            registry=registry,
        )
        for name in targets
    }


def run(
    targets: Sequence[str], sets: int, blocks: int, out_dir: Path, same_servers: bool = False
) -> dict[str, Any]:
    """Run the sets (servers started and stopped by PID) and return the figures."""
    server_cores, lg_cores = default_cores()
    registry, ledger = Registry(), Ledger(out_dir / "processes.jsonl")
    script = _wrk.write_script(
        out_dir / "predict.lua", "POST", json.dumps(EXAMPLE).encode(), "application/json"
    )

    def wrk_rps(url: str, stem: str) -> float | None:
        figures = _wrk.run(
            f"{url}/predict",
            script,
            connections=WRK_CONNECTIONS,
            duration_s=WRK_S,
            cores=lg_cores,
            out_path=out_dir / "wrk" / f"{stem}.txt",
            ledger=ledger,
            registry=registry,
        )
        ok = not figures.non_2xx and not figures.socket_errors
        return figures.rps if ok and figures.rps else None

    found: list[dict[str, list[float | None]]] = []
    calibration_ms: list[float] = []
    threads: list[dict[str, int | None]] = []
    pids: list[int] = []
    servers: dict[str, tuple[Managed, str]] = {}
    try:
        for n in range(1, sets + 1):
            if not servers:
                logs = out_dir / "logs" / f"set{n}"
                servers = _start_all(targets, server_cores, logs, ledger, registry)
                pids += [proc.pid for proc, _ in servers.values()]
            calibration_ms.append(round(calibrate(server_cores).best_s * 1000, 1))
            for name in targets:
                wrk_rps(servers[name][1], f"set{n}-{name}-warmup")
            blocks_found: dict[str, list[float | None]] = {name: [] for name in targets}
            for b in range(blocks):
                for name in block_order(targets, b):
                    blocks_found[name].append(wrk_rps(servers[name][1], f"set{n}-b{b + 1}-{name}"))
            found.append(blocks_found)
            threads.append({name: _threads(proc.pid) for name, (proc, _) in servers.items()})
            if not same_servers:
                for proc, _ in servers.values():
                    registry.stop(proc)
                servers = {}
    finally:
        registry.stop_all()
    return {
        "targets": list(targets),
        "sets": sets,
        "blocks": blocks,
        "wrk": {"connections": WRK_CONNECTIONS, "seconds": WRK_S},
        "same_servers": same_servers,
        "server_cores": list(server_cores or []),
        "server_pids": pids,
        "calibration_ms": calibration_ms,
        "threads": threads,  # each server's threads (main process and children) after a set
        "block_rps": found,
        **analyse(found, targets),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def table(found: dict[str, Any]) -> Table:
    """Return each set's figures and the spread across sets as a rich table."""
    targets, base = found["targets"], found["targets"][0]
    servers = "one set of servers throughout" if found["same_servers"] else "fresh servers a set"
    out = Table(
        title=f"{found['sets']} sets of {found['blocks']} blocks, wrk "
        f"-c{found['wrk']['connections']} {found['wrk']['seconds']:g} s a target a block; {servers}"
    )
    out.add_column("set")
    out.add_column("calibration ms")
    for name in targets:
        out.add_column(f"{name} req/s (block CV)")
    for name in targets[1:]:
        out.add_column(f"{name} : {base} [95 % CI]")
    for n, (row, cal) in enumerate(zip(found["per_set"], found["calibration_ms"], strict=True), 1):
        cells = [str(n), f"{cal:g}"]
        for name in targets:
            rps = row["rps"][name]
            cells.append("-" if rps is None else f"{rps:,.0f} ({_pct(row['block_cv'][name])})")
        for name in targets[1:]:
            r = row["ratios"][name]
            ci = "" if r["low"] is None else f" [{r['low']:.3f}-{r['high']:.3f}]"
            cells.append("-" if r["median"] is None else f"{r['median']:.3f}{ci}")
        out.add_row(*cells)
    return out


def lines(found: dict[str, Any]) -> list[str]:
    """Return one sentence a contrast: its spread between sets against within a set."""
    said = []
    for name, c in found["contrasts"].items():
        medians = c["set_medians"]
        if not medians:
            said.append(f"{name} : {c['versus']}: no valid block")
            continue
        p = c["kruskal_p"]
        differ = p is not None and p < 0.05
        half = c["within_half_width"]
        within = (
            "no interval within a set (too few blocks)"
            if half is None
            else f"within a set the 95 % interval is ±{_pct(half)}"
        )
        said.append(
            f"{name} : {c['versus']}: set medians {min(medians):.3f}-{max(medians):.3f} "
            f"(±{_pct(c['spread'])} around their median); {within}; Kruskal-Wallis p = "
            f"{'-' if p is None else f'{p:.3g}'}: the sets "
            f"{'differ more than their blocks do' if differ else 'do not differ beyond chance'}"
            f"; between-set standard deviation {_pct(c['between_sd'])}"
        )
    return said


def main(argv: list[str] | None = None) -> int:
    """Run the sets, print the table and one sentence a contrast; --json writes both."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench.drift",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["flask", "fastapi", "fastapi-async"],
        choices=sorted(TARGETS),
        help="the first is the denominator of every ratio",
    )
    parser.add_argument("--sets", type=int, default=6, help="sets of fresh servers (default 6)")
    parser.add_argument("--blocks", type=int, default=6, help="blocks a set (default 6)")
    parser.add_argument(
        "--same-servers", action="store_true", help="start the servers once, for every set"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if (
        args.sets < 2
        or args.blocks < 2
        or len(args.targets) < 2
        or len(set(args.targets)) != len(args.targets)
    ):
        parser.error("--sets and --blocks must be at least 2, --targets two or more, each once")
    if not _wrk.available():
        parser.error("wrk is not installed (make system-deps installs it)")
    out_dir = (args.json or Path("results") / "drift.json").with_suffix("")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        found = run(args.targets, args.sets, args.blocks, out_dir, args.same_servers)
    except ProcessError as exc:
        print(f"drift: {exc}", file=sys.stderr)
        return 1
    Console(width=160).print(table(found))
    for line in lines(found):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
