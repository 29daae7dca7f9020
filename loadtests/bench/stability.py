"""Run the bench N times back to back and show how much every headline figure moved.

``python -m loadtests.bench.stability`` (``make stability``) runs ``python -m
loadtests.bench`` N times (default 3; every other argument is passed on), then prints, for
every headline figure and every comparison, its value in each run and its spread
(the largest deviation from the median), and whether each comparison's word (faster,
slower, a tie, undecided) came out the same every time. Only the verdict's figures
(throughput and sustainable throughput) decide the exit status; the words of the figures
the report only shows (p99, CPU per request) are listed apart. Each run's machine speed
(the CPU calibration) and length are shown first, so a slower set of runs is told apart;
after the table, each run's A/A control and its standalone check (how many targets agreed
with wrk alone, and how the gaps read: the machine, one more process, or the run).
``--runs DIR DIR ...`` only compares finished runs; with ``--recompute`` their comparisons
are computed again by this code from the rungs and latency histograms each run stored, so a
change to the comparison method can be read on runs made before it. The budgets it checks
against: ratios within ±5 % of their median, sustainable throughput within ±10 %, and each
target's p99 at every common ladder rung below 60 % of its capacity (the median of its wrk
peaks over a run's rounds, the lowest of the runs') within ±25 %.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from rich.console import Console
from rich.table import Table

from loadtests.bench.compare import compare
from loadtests.bench.gap import ALONE_TOLERANCE, read_run
from loadtests.bench.pooling import CONFIDENCE, Pool, pool_into
from loadtests.bench.rungs import closed_loop_capacity
from loadtests.common import hdr as _hdr
from loadtests.common.runfiles import (
    AA_PAIR,
    VERDICT_FIGURES,
    Summary,
    TargetSummary,
    read_summary,
)
from loadtests.common.stats import deviation_from_median

RATIO_BUDGET = 0.05  # each ratio within ±5 % of its median across runs
SUSTAINABLE_BUDGET = 0.10  # each sustainable throughput within ±10 %
P99_BUDGET = 0.25  # each target's p99 at a common rung below 60 % of its capacity: ±25 %
P99_BELOW_SHARE = 0.6


@dataclass(frozen=True)
class Row:
    """One figure across runs."""

    name: str
    values: tuple[float | None, ...]
    budget: float | None  # the largest deviation from the median allowed (None: shown only)
    words: tuple[str, ...] = ()  # comparisons: the word of each run
    in_verdict: bool = False  # a comparison the verdict states (VERDICT_FIGURES)
    intervals: tuple[tuple[float | None, float | None], ...] = ()  # comparisons: each run's CI

    @property
    def holds(self) -> tuple[bool | None, ...]:
        """Tell, for each run, whether its 95 % interval holds the median of the runs'
        medians (None: no interval): an interval as wide as what moves the answer does."""
        present = [v for v in self.values if v is not None]
        if not self.intervals or len(present) < 2:
            return ()
        mid = median(present)
        return tuple(
            None if low is None or high is None else low <= mid <= high
            for low, high in self.intervals
        )

    @property
    def deviation(self) -> float | None:
        """Return the largest |value / median - 1| over the runs (None without two values)."""
        return deviation_from_median(v for v in self.values if v is not None)

    @property
    def within(self) -> bool | None:
        """Tell whether the figure stayed within its budget (None: no budget or too few)."""
        dev = self.deviation
        return None if self.budget is None or dev is None else dev <= self.budget

    @property
    def same_word(self) -> bool | None:
        """Tell whether every run gave the same word (None: not a comparison)."""
        return len(set(self.words)) == 1 if self.words else None


def rung_p99(target: TargetSummary, rate: float) -> float | None:
    """Return the p99 the report shows for a rate: its latency-curve point (the median over
    rounds), None when the point is missing or invalid."""
    point = next((p for p in target.latency_curve if p.offered_rps == rate), None)
    return point.p99_ms if point and point.valid else None


def rows(runs: list[Summary]) -> list[Row]:
    """Return the headline figures and the comparisons of the runs, side by side."""
    out = [
        Row(
            "machine: CPU calibration, best ms",
            tuple(s.calibration.best_ms if s.calibration else None for s in runs),
            None,
        ),
        Row("run: wall s", tuple(s.wall_s for s in runs), None),
    ]
    names = list(dict.fromkeys(n for s in runs for n in s.targets))
    for name in names:
        targets = [s.targets.get(name) for s in runs]
        peaks = tuple(closed_loop_capacity(t.rounds) if t else None for t in targets)
        out.append(Row(f"{name}: wrk peak req/s (median of rounds)", peaks, None))
        out.append(
            Row(
                f"{name}: sustainable req/s",
                tuple(
                    t.sustainable_rps.median if t and t.sustainable_rps else None for t in targets
                ),
                SUSTAINABLE_BUDGET,
            )
        )
        known = [p for p in peaks if p]
        rungs = sorted(set.intersection(*(set(s.ladder) for s in runs))) if known else []
        for rate in (r for r in rungs if r < P99_BELOW_SHARE * min(known)):
            p99s = (rung_p99(t, rate) if t else None for t in targets)
            out.append(Row(f"{name}: p99 ms @{rate:g}", tuple(p99s), P99_BUDGET))
    keys = list(dict.fromkeys((c.pair, c.figure, c.at_rps) for s in runs for c in s.comparisons))
    for pair, figure, at in keys:
        found = [
            next(
                (c for c in s.comparisons if (c.pair, c.figure, c.at_rps) == (pair, figure, at)),
                None,
            )
            for s in runs
        ]
        label = f"{pair} {figure}" + (f" @{at:g}" if at else "")
        out.append(
            Row(
                label,
                tuple(c.median if c else None for c in found),
                RATIO_BUDGET,
                tuple(c.word if c else "missing" for c in found),
                in_verdict=figure in VERDICT_FIGURES,
                intervals=tuple((c.low, c.high) if c else (None, None) for c in found),
            )
        )
    return out


def recomputed(run_dir: Path, summary: Summary) -> Summary:
    """Return the run with its comparisons computed again by this code, from the rungs in
    summary.json and the latency histograms under hdr/ (a rung measured twice in a round
    pools both steps, as the run did); the run's own flags decide which rounds count."""
    excluded = {r.round for r in summary.rounds if r.excluded}
    pools: dict[str, dict[tuple[float, int], Pool]] = {}
    for name, target in summary.targets.items():
        mine: dict[tuple[float, int], Pool] = {}
        for rung in target.rungs:
            for rr in rung.rounds:
                if rr.hdr is None or not (run_dir / rr.hdr).is_file():
                    continue
                pool = Pool.from_counts(*_hdr.distribution(_hdr.load(run_dir / rr.hdr)))
                pool_into(mine, (rung.offered_rps, rr.round), pool)
        pools[name] = mine
    comparisons = compare(
        summary.targets,
        list(summary.pairs),
        excluded,
        pools=pools,
        pair_rungs=summary.pair_rungs,
        confidence=float(summary.settings.get("confidence", CONFIDENCE)),
    )
    return summary.model_copy(update={"comparisons": comparisons})


def table(runs: list[Summary], found: list[Row]) -> Table:
    """Return the figures as a rich table."""
    out = Table(title=f"{len(runs)} runs: " + ", ".join(s.run_id for s in runs))
    out.add_column("figure")
    for s in runs:
        out.add_column(s.run_id, justify="right")
    for column in ("spread", "budget", "words", "CI holds the median"):
        out.add_column(column)
    for row in found:
        cells = ["-" if v is None else f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in row.values]
        dev = row.deviation
        within = {True: "ok", False: "OVER", None: ""}[row.within]
        budget = f"±{row.budget:.0%} {within}" if row.budget is not None else ""
        words = ""
        if row.words:
            differ = "DIFFER: " if row.in_verdict else "differ (shown only): "
            words = row.words[0] if row.same_word else differ + " / ".join(row.words)
        holds = " ".join({True: "yes", False: "NO", None: "-"}[h] for h in row.holds)
        out.add_row(row.name, *cells, "-" if dev is None else f"±{dev:.1%}", budget, words, holds)
    return out


def aa_lines(runs: list[Summary]) -> list[str]:
    """Return each run's A/A control: the same target against itself, on every figure."""
    out = []
    for s in runs:
        found = [c for c in s.comparisons if c.pair == AA_PAIR]
        if not found:
            out.append(f"{s.run_id}: no A/A control in this run")
            continue
        parts = [
            f"{c.figure} {c.median:.2f}x ({c.low:.2f}-{c.high:.2f}) {c.word}"
            if c.median is not None and c.low is not None and c.high is not None
            else f"{c.figure} {c.word}"
            for c in found
        ]
        bad = any(c.word in ("faster", "slower") for c in found if c.figure in VERDICT_FIGURES)
        note = "  <- the method invented a difference" if bad else ""
        out.append(
            f"{s.run_id}: A/A {found[0].numerator} : {found[0].denominator}: "
            + "; ".join(parts)
            + note
        )
    return out


def alone_lines(runs: list[Summary]) -> list[str]:
    """Return each run's standalone check: how many targets agreed within ALONE_TOLERANCE,
    and how the gaps read (``loadtests.bench.gap``): the machine, one more process, the run."""
    out = []
    for s in runs:
        shift, gaps = read_run({n: (t.alone, t.rounds) for n, t in s.targets.items()})
        if not gaps:
            out.append(f"{s.run_id}: no standalone pass in this run")
            continue
        alone = [s.targets[n].alone for n in gaps]
        ratios = [a.ratio for a in alone if a is not None and a.ratio is not None]
        apart = {
            n: gap
            for (n, gap), a in zip(gaps.items(), alone, strict=True)
            if a is not None and a.agrees is False
        }
        causes = Counter(gap.cause for gap in apart.values())
        outside = [n for n, gap in apart.items() if gap.cause == "run"]
        out.append(
            f"{s.run_id}: alone {len(gaps) - len(apart)} of {len(gaps)} within "
            f"±{ALONE_TOLERANCE * 100:.0f} % (run : alone {min(ratios):.2f}-{max(ratios):.2f}); "
            f"the machine's shift {'not known' if shift is None else f'{shift:.2f}'}: "
            f"{causes['machine']} more within it after that shift, {causes['process']} within "
            f"one more round's spread, outside both: {', '.join(outside) or 'none'}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run (or read) the runs; print the table; exit 1 when a verdict word differed."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench.stability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--times", type=int, default=3, help="runs (default %(default)s)")
    parser.add_argument("--runs", nargs="+", type=Path, help="compare these finished runs only")
    parser.add_argument("--out", type=Path, default=Path("results"), help="results root")
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="compute the runs' comparisons again with this code (from their stored rungs)",
    )
    args, bench_args = parser.parse_known_args(argv)
    if args.times < 2 and not args.runs:
        parser.error("--times must be at least 2")
    dirs: list[Path] = list(args.runs or [])
    if not dirs:
        for n in range(args.times):
            print(f"stability: run {n + 1}/{args.times}", flush=True)
            command = [sys.executable, "-m", "loadtests.bench", "--out", str(args.out)]
            done = subprocess.run([*command, *bench_args], check=False)
            if done.returncode != 0:
                print(f"stability: run {n + 1} failed (exit {done.returncode})", file=sys.stderr)
                return done.returncode
            dirs.append((args.out / "latest").resolve())
    runs = [read_summary(d) for d in dirs]
    if args.recompute:
        runs = [recomputed(d, run) for d, run in zip(dirs, runs, strict=True)]
    found = rows(runs)
    Console(width=220).print(table(runs, found))
    for line in aa_lines(runs):
        print(line)
    for line in alone_lines(runs):
        print(line)
    differ = [r.name for r in found if r.same_word is False and r.in_verdict]
    shown = [r.name for r in found if r.same_word is False and not r.in_verdict]
    over = [r.name for r in found if r.within is False]
    missed = [r.name for r in found if r.in_verdict and False in r.holds]
    print(
        "intervals: "
        + (
            "each holds the median of the runs' medians"
            if not missed
            else "miss it for " + ", ".join(missed)
        )
    )
    print(f"verdict words: {'all the same' if not differ else 'differ for ' + ', '.join(differ)}")
    if shown:
        print(f"words of figures shown only (not in the verdict) differ for {', '.join(shown)}")
    print(f"budget: {'all within' if not over else 'over for ' + ', '.join(over)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
