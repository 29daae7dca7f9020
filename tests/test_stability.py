"""make stability: each figure across runs, its spread against its budget, and the words."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from loadtests.bench.stability import P99_BUDGET, RATIO_BUDGET, alone_lines, main, rows
from loadtests.common.runfiles import (
    VERDICT_FIGURES,
    Alone,
    Summary,
    read_summary,
    write_summary,
)

# A whole default run of 2026-11-26 (once the README's reference run), before the pooled ladder.
FIXTURE = Path(__file__).parent / "data" / "default_run_20261126"


def scaled(run: Summary, run_id: str, factor: float, word: str | None = None) -> Summary:
    """Return a copy of a run with flask's wrk peaks and p99s and every ratio times factor."""
    copy = run.model_copy(deep=True)
    copy.run_id = run_id
    flask = copy.targets["flask"]
    for fig in flask.rounds:
        fig.wrk_rps = (fig.wrk_rps or 0) * factor
        fig.p99_ms = {k: v * factor for k, v in fig.p99_ms.items()}
    for point in flask.latency_curve:
        point.p99_ms = None if point.p99_ms is None else point.p99_ms * factor
    for c in copy.comparisons:
        c.median = None if c.median is None else c.median * factor
        c.word = word or c.word
    return copy


def test_spread_budgets_and_words_across_runs() -> None:
    run = read_summary(FIXTURE)
    same = rows([run, scaled(run, "b", 1.04)])
    ratios = [r for r in same if r.budget == RATIO_BUDGET and r.values[0]]
    assert ratios
    assert all(r.within and r.same_word for r in ratios)
    moved = rows([run, scaled(run, "b", 1.30, word="undecided")])
    ratios = [r for r in moved if r.budget == RATIO_BUDGET and r.values[0]]
    assert all(r.within is False for r in ratios)
    assert any(r.same_word is False for r in ratios)


def test_p99_at_each_rung_below_60_percent_of_capacity() -> None:
    """One row per common rung below 60 % of the target's capacity (median wrk peak): the
    p99 of the report's latency curve at that rate (invalid points left out), against ±25 %."""
    run = read_summary(FIXTURE)
    flask = run.targets["flask"]
    peaks = sorted(f.wrk_rps for f in flask.rounds if f.wrk_valid and f.wrk_rps)
    found = {r.name: r for r in rows([run, scaled(run, "b", 1.2)])}
    p99_rows = {n: r for n, r in found.items() if n.startswith("flask: p99 ms @")}
    expected = {f"flask: p99 ms @{r:g}" for r in run.ladder if r < 0.6 * peaks[len(peaks) // 2]}
    assert set(p99_rows) == expected
    assert expected
    shown = {f"{p.offered_rps:g}": p for p in flask.latency_curve}
    measured = 0
    for name, row in p99_rows.items():
        assert row.budget == P99_BUDGET
        point = shown[name.rsplit("@", 1)[1]]
        if not point.valid:
            assert row.values == (None, None)  # an invalid point is no figure to judge
            continue
        assert row.values[0] == point.p99_ms
        assert row.values[1] is not None
        assert abs(row.values[1] / row.values[0] - 1.2) < 1e-9
        assert row.within is True  # ±9 % around the median of the two
        measured += 1
    assert measured >= 2
    beyond = {r.name: r for r in rows([run, scaled(run, "b", 1.8)])}
    assert any(beyond[n].within is False for n in p99_rows if beyond[n].values[0])


def test_the_command_fails_when_a_word_differs(tmp_path: Path) -> None:
    run = read_summary(FIXTURE)
    dirs = []
    for name, summary in (
        ("a", run),
        ("b", scaled(run, "b", 1.0)),
        ("c", scaled(run, "c", 1.0, "tie")),
    ):
        (tmp_path / name).mkdir()
        write_summary(tmp_path / name, summary)
        dirs.append(str(tmp_path / name))
    assert main(["--runs", dirs[0], dirs[1]]) == 0
    assert main(["--runs", dirs[0], dirs[2]]) == 1


def test_only_the_verdicts_words_decide(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A p99 or CPU word that moved is listed, but only a throughput or sustainable word
    (the figures the verdict states) fails the command."""
    run = read_summary(FIXTURE)
    shown_only = run.model_copy(deep=True)
    shown_only.run_id = "b"
    moved = [c for c in shown_only.comparisons if c.figure not in VERDICT_FIGURES]
    assert moved
    for c in moved:
        c.word = "tie" if c.word != "tie" else "undecided"
    dirs = []
    for name, summary in (("a", run), ("b", shown_only)):
        (tmp_path / name).mkdir()
        write_summary(tmp_path / name, summary)
        dirs.append(str(tmp_path / name))
    assert main(["--runs", *dirs]) == 0
    out = capsys.readouterr().out
    assert "verdict words: all the same" in out
    assert "words of figures shown only (not in the verdict) differ for" in out
    found = {r.name: r for r in rows([run, shown_only])}
    assert all(
        r.in_verdict == (r.name.split()[1] in VERDICT_FIGURES) for r in found.values() if r.words
    )


def test_machine_speed_and_wall_time_lead_the_table() -> None:
    run = read_summary(FIXTURE)
    slower = run.model_copy(deep=True)
    assert run.calibration is not None
    assert slower.calibration is not None
    slower.calibration.best_ms = run.calibration.best_ms * 1.1
    first, second = rows([run, slower])[:2]
    assert first.name.startswith("machine: CPU calibration")
    assert first.values == (run.calibration.best_ms, run.calibration.best_ms * 1.1)
    assert second.values == (run.wall_s, run.wall_s)
    assert (first.budget, second.budget) == (None, None)  # shown, never judged


def test_recompute_reads_the_runs_figures_not_their_stored_words(tmp_path: Path) -> None:
    """A run whose stored words were all overwritten fails the comparison as stored; with
    --recompute its comparisons come again from its figures and agree with the original."""
    run = read_summary(FIXTURE)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_summary(tmp_path / "a", run)
    write_summary(tmp_path / "b", scaled(run, "b", 1.0, "tie"))
    dirs = [str(tmp_path / "a"), str(tmp_path / "b")]
    assert main(["--runs", *dirs]) == 1
    assert main(["--recompute", "--runs", *dirs]) == 0


def test_each_runs_standalone_check_reads_its_gaps_as_the_run_warns() -> None:
    """`stability` prints per run how many targets agreed with wrk alone and how the gaps
    read: six targets 25 % faster alone move with the machine; flask, far faster still and
    outside one more round's spread, is named as moved by the run."""
    run = read_summary(FIXTURE).model_copy(deep=True)
    for name, target in run.targets.items():
        rounds = [f.wrk_rps for f in target.rounds if f.wrk_rps and f.wrk_valid]
        assert len(rounds) >= 3, name
        run_rps = statistics.median(rounds)
        alone_rps = run_rps * (4.0 if name == "flask" else 1.25)
        target.alone = Alone(
            wrk_rps=alone_rps, run_wrk_rps=run_rps, ratio=run_rps / alone_rps, agrees=False
        )
    [line] = alone_lines([run])
    assert f"alone 0 of {len(run.targets)} within ±10 %" in line
    assert "the machine's shift 0.80" in line
    assert f"{len(run.targets) - 1} more within it after that shift" in line
    assert line.endswith("outside both: flask")
    no_pass = run.model_copy(deep=True)
    for target in no_pass.targets.values():
        target.alone = None
    assert alone_lines([no_pass]) == [f"{run.run_id}: no standalone pass in this run"]
