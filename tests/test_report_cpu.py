"""The report's CPU split: drawn and tabled from the CPU clock, wall time kept apart, and an
older run (no CPU clock) still rendered with its wall figures.

Rendered from a stored real run (tests/data/report_fixture), as stored and after its benches
were given CPU figures and split by the runner's own code (``summary.decomposition``).
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.container import BarContainer

from loadtests.bench.summary import CPU_BENCHES, decomposition
from loadtests.common.runfiles import Decomposition, read_summary, write_summary
from loadtests.report import bar_charts, charts
from loadtests.report import render as report
from loadtests.report.costs import alone_rows
from loadtests.report.format import fmt
from loadtests.report.load import load_run
from loadtests.report.view import CPU_PARTS

FIXTURE = Path(__file__).parent / "data" / "report_fixture"


def test_an_old_run_renders_its_wall_figures_and_says_it_has_no_cpu_clock(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    html, md = (p.read_text(encoding="utf-8") for p in report.render(run))
    table = html.split('id="decomposition"', 1)[1].split("</table>", 1)[0]
    assert "CPU per request" in table
    assert "this run has no CPU clock" in table
    assert "decomposition.cpu." not in table
    assert 'data-figure="flask.decomposition.in_process_us"' in table
    assert "CPU per request: where a request" in md
    assert "not measured: this run has no CPU clock" in md


@pytest.fixture
def cpu_run(tmp_path: Path) -> Path:
    """Return the stored run with its benches given CPU figures, split by the runner's code."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    summary = read_summary(run)
    for name, bench in summary.benchmarks.items():
        if name in CPU_BENCHES:  # CPU time a little below the wall time, as pinned runs show
            bench.cpu = bench.model_copy(update={"median_us": round(bench.median_us * 0.8, 3)})
    figures = {n: b.model_dump() for n, b in summary.benchmarks.items()}
    for target in summary.targets.values():
        found = decomposition(
            target.framework,
            target.handler,
            [p.model_dump() for p in target.sweep],
            figures,
            server_cpu_us=statistics.median(r.cpu_us_per_request or 0.0 for r in target.rounds),
        )
        target.decomposition = Decomposition.model_validate(found) if found else None
    write_summary(run, summary)
    return run


def test_the_report_shows_the_cpu_split_and_the_wall_apart(cpu_run: Path) -> None:
    summary = read_summary(cpu_run)
    html = report.render(cpu_run)[0].read_text(encoding="utf-8")
    table = html.split('id="decomposition"', 1)[1].split("</table>", 1)[0]
    splits = {n: t.decomposition for n, t in summary.targets.items() if t.decomposition}
    assert splits
    for name, split in splits.items():
        assert split.cpu is not None
        for key in CPU_PARTS:
            value = getattr(split.cpu, key)
            cell = f'data-figure="{name}.decomposition.cpu.{key}" data-unit="us"><span class="v">'
            assert f"{cell}{fmt(value, 'us')}</span>" in table, (name, key)
        wall = f'data-figure="{name}.decomposition.in_process_us" data-unit="us"><span class="v">'
        assert f"{wall}{fmt(split.in_process_us, 'us')}</span>" in table
    verdict = html.split('data-section="verdict"', 1)[1].split("<h3>", 1)[0]
    model = next(iter(splits.values()))
    assert model.cpu is not None
    assert "On the CPU clock" in verdict
    assert f"the model costs {fmt(model.cpu.model_us, 'us')} µs of the" in verdict
    assert "CPU a server spends per request under load" in verdict


def test_the_chart_draws_cpu_parts_that_end_at_the_server_cpu(cpu_run: Path) -> None:
    run = load_run(cpu_run)
    with plt.rc_context(charts.STYLE):  # type: ignore[arg-type]
        fig = bar_charts.decomposition(run, list(run.targets))
    cpu_ax, wall_ax = fig.axes[:2]
    assert cpu_ax.get_title().startswith("CPU per request")
    assert wall_ax.get_title().startswith("wall per request")
    names = [n for n, t in run.targets.items() if t.get("decomposition")][::-1]
    ends = dict.fromkeys(range(len(names)), 0.0)
    for bar in cpu_ax.patches:
        row = round(bar.get_y() + bar.get_height() / 2)
        ends[row] += -bar.get_width() if bar.get_hatch() == "xx" else bar.get_width()
    for row, name in enumerate(names):
        split = run.targets[name]["decomposition"]["cpu"]
        assert ends[row] == pytest.approx(split["server_us"], abs=0.01), name
    wall = {
        c.get_label(): list(c.datavalues) for c in wall_ax.containers if isinstance(c, BarContainer)
    }
    splits = [run.targets[n]["decomposition"] for n in names]
    assert wall["in-process request"] == [split["in_process_us"] for split in splits]
    assert wall["HTTP p50, one user (Locust)"] == [0.0] * len(names)  # none in the stored run
    plt.close(fig)


@pytest.mark.parametrize(
    ("others", "alone_rps", "agrees", "why"),
    [
        (1.0, 1100.0, True, ""),
        # Every other target's figure alone came out 25 % faster, and this one with them.
        (0.8, 1400.0, False, "every target moved with it: the machine"),
        # The machine did not move; within one more round's spread (708-1,509 req/s).
        (1.0, 1300.0, False, "within one more round's spread"),
        # Outside that spread, and the machine did not move: the run.
        (1.0, 1700.0, False, "outside one more round's spread: the run moves it"),
    ],
)  # fmt: skip
def test_a_gap_to_the_target_alone_is_read_against_the_machine_and_the_rounds(
    others: float, alone_rps: float, agrees: bool, why: str
) -> None:
    """The standalone check puts a gap on the machine when every target moved with it, on one
    more process's speed when it lies within one more round's spread, and on the run only
    outside both; the report reads old runs by the same rule the run warns by."""
    run = load_run(FIXTURE)
    name = "article-fastapi"  # rounds 1,114.6, 1,025.5, 1,186.4 req/s
    for other in run.targets:
        run.targets[other]["alone"] = {"wrk_rps": 1000.0, "ratio": others, "agrees": True}
    median_rps = 1114.6
    ratio = median_rps / alone_rps
    run.targets[name]["alone"] = {
        "run_wrk_rps": median_rps,
        "wrk_rps": alone_rps,
        "ratio": ratio,
        "agrees": agrees,
    }
    row = next(r for r in alone_rows(run) if r["name"] == name)
    assert row["why"] == why
    assert row["after_shift"] == pytest.approx(ratio / others)
