"""Every ranking of throughput draws the verdict's source: wrk whenever wrk ran, Locust's peak
only when it did not; the other tool shows beside it as context.

Checked on the data each chart draws (its bars and marks), on a stored real run (wrk ran)
and on the same run with every wrk figure removed, as a ``--no-wrk`` run writes none.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.axes import Axes
from matplotlib.container import BarContainer

from loadtests.bench.compare import compare
from loadtests.common.runfiles import read_summary, write_summary
from loadtests.report import bar_charts, charts
from loadtests.report import render as report
from loadtests.report.format import DASH, fmt
from loadtests.report.load import Data, Run, load_run, ranked_source
from loadtests.report.view import headline_columns

FIXTURE = Path(__file__).parent / "data" / "report_fixture"


def recompared(dest: Path, wrk: bool) -> Run:
    """Copy the stored run (without any wrk figure unless wrk), compare it with the runner's
    current code, and load it."""
    shutil.copytree(FIXTURE, dest)
    summary = read_summary(dest)
    for target in [] if wrk else summary.targets.values():
        target.wrk, target.locust_vs_wrk = None, None
        for figures in target.rounds:
            figures.wrk_rps, figures.wrk_valid, figures.wrk_samples = None, False, []
    excluded = {r.round for r in summary.rounds if r.excluded}
    summary.comparisons = compare(summary.targets, summary.pairs, excluded)
    write_summary(dest, summary)
    return load_run(dest)


@pytest.fixture
def with_wrk(tmp_path: Path) -> Run:
    """Return the stored run, compared by the current rule: on wrk, which it measured."""
    return recompared(tmp_path / "run", wrk=True)


@pytest.fixture
def no_wrk(tmp_path: Path) -> Run:
    """Return the stored run as if wrk had not run."""
    return recompared(tmp_path / "run", wrk=False)


def bars(ax: Axes) -> dict[str, float]:
    """Return the value of each bar an axes draws, by its label (one bar a label)."""
    out = {}
    for container in ax.containers:
        if isinstance(container, BarContainer):
            (value,) = container.datavalues
            out[container.get_label().removesuffix(" (invalid)")] = float(value)
    return out


def context_marks(ax: Axes) -> list[float]:
    """Return the values of the hollow diamonds: the other tool, drawn as context."""
    return sorted(
        float(y) for line in ax.lines if line.get_marker() == "D" for y in line.get_ydata()
    )


def grid_data(run: Run) -> tuple[dict[str, float], list[float], str]:
    """Draw the framework x server chart; return its bars, context marks and y label."""
    with plt.rc_context(charts.STYLE):  # type: ignore[arg-type]
        fig = bar_charts.grid(run, list(run.targets))
    ax = fig.axes[0]
    drawn = bars(ax), context_marks(ax), ax.get_ylabel()
    plt.close(fig)
    return drawn


def def_targets(run: Run) -> dict[str, Data]:
    """Return the targets the grid draws: the validated def handlers."""
    return {n: t for n, t in run.targets.items() if t.get("handler") == "def"}


def ranks_as_its_verdict(run: Run, phase: str) -> tuple[list[float], str]:
    """Check that the run's verdict and its grid both rank on phase's figures; return the
    grid's context marks and y label."""
    source = ranked_source(run)
    assert source.phase == phase
    throughput = [c for c in run.comparisons if c.figure == "throughput"]
    assert throughput
    assert {c.source for c in throughput} == {source.label}
    drawn, marks, ylabel = grid_data(run)
    assert drawn == {n: t[phase]["rps"] for n, t in def_targets(run).items()}
    return marks, ylabel


def test_the_run_with_wrk_ranks_on_wrk_as_its_verdict_does(with_wrk: Run) -> None:
    run = with_wrk
    marks, ylabel = ranks_as_its_verdict(run, "wrk")
    assert (ranked_source(run).tool, ranked_source(run).context_tool) == ("wrk", "Locust")
    assert marks == sorted(t["peak"]["rps"] for t in def_targets(run).values())
    assert "wrk" in ylabel
    columns = headline_columns(run)
    assert [c.key for c in columns[:2]] == ["wrk.rps", "peak.rps"]
    assert columns[1].heading.endswith("context")
    block = report.reference_block(run)
    assert "| target | wrk req/s | peak req/s (Locust) · context |" in block
    for name, target in run.targets.items():
        wrk, peak = (fmt(target[p]["rps"], "rps") for p in ("wrk", "peak"))
        assert f"| `{name}` | {wrk} | {peak} |" in block


def test_a_stored_verdict_keeps_its_own_source() -> None:
    """An older run whose comparisons were made on Locust's peaks ranks on them too."""
    run = load_run(FIXTURE)
    throughput = {c.source for c in run.comparisons if c.figure == "throughput"}
    assert throughput == {"Locust (closed loop, peak level)"}
    assert ranked_source(run).phase == "peak"
    drawn, _, _ = grid_data(run)
    assert drawn == {n: t["peak"]["rps"] for n, t in def_targets(run).items()}


def test_the_run_without_wrk_ranks_on_locust_as_its_verdict_does(no_wrk: Run) -> None:
    marks, ylabel = ranks_as_its_verdict(no_wrk, "peak")
    assert ranked_source(no_wrk).tool == "Locust"
    assert marks == []  # wrk did not run: no context to show
    assert "Locust" in ylabel
    assert [c.key for c in headline_columns(no_wrk)[:2]] == ["peak.rps", "wrk.rps"]
    block = report.reference_block(no_wrk)
    assert "| target | peak req/s (Locust) | wrk req/s · context |" in block
    for name, target in no_wrk.targets.items():
        assert f"| `{name}` | {fmt(target['peak']['rps'], 'rps')} | {DASH} |" in block


def test_the_run_comparison_chart_ranks_each_run_on_its_own_source(
    with_wrk: Run, tmp_path: Path
) -> None:
    base, no_wrk = with_wrk, recompared(tmp_path / "no-wrk", wrk=False)
    with plt.rc_context(charts.STYLE):  # type: ignore[arg-type]
        fig = charts.compare_peaks(base, no_wrk, list(base.targets))
    throughput = fig.axes[0]
    values = [float(c.datavalues[0]) for c in throughput.containers if isinstance(c, BarContainer)]
    expected = []
    for name in base.targets:
        expected += [base.targets[name]["wrk"]["rps"], no_wrk.targets[name]["peak"]["rps"]]
    assert values == expected
    assert "wrk → Locust" in throughput.get_title()
    plt.close(fig)


def test_the_report_of_a_run_without_wrk_names_its_source(no_wrk: Run) -> None:
    html = report.render(no_wrk.path)[0].read_text(encoding="utf-8")
    assert "Throughput is ranked on Locust's figures, the verdict's source: Locust" in html
    assert html.index('data-figure="flask.peak.rps"') < html.index('data-figure="flask.wrk.rps"')
