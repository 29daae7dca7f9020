"""The report: rendered from a small stored real run, every figure checked against it.

The fixture (tests/data/report_fixture) is a real run of the bench runner (summary.json,
phases.csv, invalid_matrix.json as written); the report reads no other file of the run.
Where a test needs comparisons the stored run does not hold (its rounds were all
flagged), it recomputes them with the runner's own code (loadtests.bench.compare).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import statistics
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest

from loadtests.bench.compare import aa_warnings, compare
from loadtests.bench.config import WRK_CONNECTIONS
from loadtests.common.runfiles import VERDICT_FIGURES, MatrixMeta, MatrixRow, Summary, read_summary
from loadtests.common.servers import launch
from loadtests.report import charts
from loadtests.report import render as report
from loadtests.report.format import DASH, TIMES, fmt
from loadtests.report.load import figure, load_run
from loadtests.report.verdict import SHOWN_ONLY
from loadtests.robustness.cases import BY_NAME
from loadtests.robustness.matrix import run_matrix, write_matrix
from loadtests.targets import get_target

FIXTURE = Path(__file__).parent / "data" / "report_fixture"
SECTIONS = ("verdict", "charts", "invalid", "claims", "warnings", "method")
CHARTS = ("throughput", "latency", "sustainable", "decomposition", "grid", "error_path")


def copy_fixture(dest: Path, matrix: bool = True) -> Path:
    """Copy the stored run folder to dest (without its matrix file unless asked) and return it."""
    shutil.copytree(FIXTURE, dest)
    if not matrix:
        (dest / "invalid_matrix.json").unlink()
    return dest


def load_summary(run: Path) -> dict[str, Any]:
    """Return a run folder's summary.json."""
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def save_summary(run: Path, summary: dict[str, Any]) -> None:
    """Write a run folder's summary.json (checked against the model, as the runner writes it)."""
    Summary.model_validate(summary)
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")


def recompare(run: Path, flagged: dict[int, list[str]]) -> dict[str, Any]:
    """Set each round's flags and recompute the comparisons with the runner's code."""
    summary = load_summary(run)
    for info in summary["rounds"]:
        info["flags"] = flagged.get(info["round"], [])
    save_summary(run, summary)
    model = read_summary(run)
    model.comparisons = compare(model.targets, model.pairs, set(flagged))
    summary = model.dump()
    save_summary(run, summary)
    return summary


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Render the fixture run once; return its folder, report.html and report.md text."""
    run = copy_fixture(tmp_path_factory.mktemp("report") / "run")
    html, md = report.render(run)
    return run, html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def unflagged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Render the fixture with no round flagged and its comparisons recomputed."""
    run = copy_fixture(tmp_path_factory.mktemp("report") / "run", matrix=False)
    recompare(run, {})
    html, md = report.render(run)
    return run, html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")


class Figures(HTMLParser):
    """Collect (data-figure, data-unit, shown text, class) of every tagged cell of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str, str, str]] = []
        self._open: list[tuple[str, str, str]] = []
        self._value: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("data-figure"):
            key, unit = found["data-figure"] or "", found.get("data-unit") or ""
            self._open.append((key, unit, found.get("class") or ""))
        if tag == "span" and found.get("class") == "v" and self._open:
            self._value = []

    def handle_data(self, data: str) -> None:
        if self._value is not None:
            self._value.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._value is not None:
            key, unit, klass = self._open.pop()
            self.cells.append((key, unit, "".join(self._value), klass))
            self._value = None


def figures_of(html: str) -> list[tuple[str, str, str, str]]:
    """Return the tagged figures of a rendered page."""
    parser = Figures()
    parser.feed(html)
    return parser.cells


def section(html: str, name: str) -> str:
    """Return one section of the rendered HTML, entities decoded."""
    return unescape(html.split(f'data-section="{name}"', 1)[1].split("</section>", 1)[0])


# --- the expected figures, computed here from the raw files ---------------------------


def walk(node: Any, path: str) -> Any:
    """Follow a dotted path (list indices included) into a summary's target."""
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def expected(summary: dict[str, Any], key: str) -> tuple[float | None, bool]:
    """Return the figure a report key names and whether it is valid, from summary.json."""
    head, _, path = key.partition(".")
    if head == "comparison":
        pair, figure = path.split(".")
        found = [c for c in summary["comparisons"] if c["pair"] == pair and c["figure"] == figure]
        assert len(found) <= 1, key
        return (found[0]["median"] if found else None), True
    target = summary["targets"][head]
    if path == "derived.cpu_us_per_request":
        values = [r["cpu_us_per_request"] for r in target["rounds"]]
        values = [v for v in values if v is not None]
        return (statistics.median(values) if values else None), True
    if path == "derived.peak_rss_mb":
        controls = target["controls"]
        phases = [*target["sweep"], target["peak"], controls["health"], controls["noop"]]
        phases += [target["wrk"], target["invalid_mix"]]
        return max(p["server_rss_mb"] for p in phases if p and p["server_rss_mb"]), True
    if path == "derived.bad_5xx":
        by_case = target["invalid_mix"]["by_case"]
        return float(
            sum(
                n
                for case, statuses in by_case.items()
                if case != "valid"
                for status, n in statuses.items()
                if status.startswith("5")
            )
        ), True
    value = walk(target, path)
    parent = walk(target, path.rpartition(".")[0]) if "." in path else target
    valid = parent.get("valid", True) if isinstance(parent, dict) else True
    return (None if value is None else float(value)), valid


# --- tests ----------------------------------------------------------------------------


def test_every_section_is_present_in_order(rendered: tuple[Path, str, str]) -> None:
    _, html, md = rendered
    positions = [html.index(f'data-section="{name}"') for name in SECTIONS]
    assert positions == sorted(positions)
    headings = [md.index(f"## {i}. ") for i in range(1, 7)]
    assert headings == sorted(headings)
    words_of = ("Verdict", "Charts", "Invalid input", "claims, checked", "Warnings", "Method")
    for words in words_of:
        assert words in md


@pytest.mark.parametrize("which", ["rendered", "unflagged"])
def test_every_figure_equals_the_run_files(which: str, request: pytest.FixtureRequest) -> None:
    run, html, _ = request.getfixturevalue(which)
    summary = load_summary(run)
    # The claims section has figures of its own (tests/test_claims.py checks them).
    cells = figures_of(re.sub(r'<section id="claims".*?</section>', "", html, flags=re.S))
    assert len(cells) > 100
    greyed = 0
    for key, unit, text, klass in cells:
        value, valid = expected(summary, key)
        assert text.removeprefix("≥") == fmt(value, unit), key
        if value is not None:
            assert ("invalid" in klass.split()) == (not valid), key
            greyed += not valid
    assert greyed, "the stored run has invalid ladder points: they must show greyed"


def test_headline_columns(rendered: tuple[Path, str, str]) -> None:
    run, html, md = rendered
    summary = load_summary(run)
    keys = {key for key, *_ in figures_of(section(html, "verdict"))}
    for name, target in summary["targets"].items():
        for column in ("peak.rps", "wrk.rps", "sustainable_rps.median", "invalid_mix.error_rate"):
            assert f"{name}.{column}" in keys
        for derived in ("cpu_us_per_request", "peak_rss_mb", "bad_5xx"):
            assert f"{name}.derived.{derived}" in keys
        assert any(k.startswith(f"{name}.latency_curve.") for k in keys), name
        peak = fmt(target["peak"]["rps"], "rps")
        assert re.search(rf"\| `{re.escape(name)}` \| [^\n]*\| {re.escape(peak)} ", md), name
    assert "at 80 %" not in html
    assert "fixed_rate" not in html


def test_sustainable_lower_bound_and_interval(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run", matrix=False)
    summary = load_summary(run)
    values = {1: 1500.0, 2: 1500.0, 3: 1687.5}  # as the runner would record a search's result
    summary["targets"]["fastapi-async"]["sustainable_rps"].update(
        median=1500.0, low=1500.0, high=1687.5, rounds=3, values=values, at_least=True
    )
    save_summary(run, summary)
    html = report.render(run)[0].read_text(encoding="utf-8")
    assert "<svg" in html.split('data-chart="sustainable"', 1)[1].split("</figure>", 1)[0]
    with plt.rc_context(charts.STYLE):  # type: ignore[arg-type]
        fig = charts.sustainable(load_run(run), [])
    ax = fig.axes[0]
    (bar,) = ax.patches  # one target with a sustainable throughput: one bar
    assert bar.get_height() == 1500.0
    assert bar.get_hatch() == "//"  # a lower bound
    caps = [line for line in ax.lines if list(line.get_marker() or "") == ["^"]]
    assert caps, "an open-ended marker for the lower bound"
    plt.close(fig)
    row = html.split('data-figure="fastapi-async.sustainable_rps.median"', 1)[1].split("</td>")[0]
    assert ">≥1,500<" in row
    assert f"1,500{DASH}1,688" in row


def test_comparisons_come_from_the_run(unflagged: tuple[Path, str, str]) -> None:
    run, html, _ = unflagged
    summary = load_summary(run)
    verdict = section(html, "verdict").split("<h3>", 1)[0]
    default = next(
        c for c in summary["comparisons"] if c["pair"] == "default" and c["figure"] == "throughput"
    )
    assert default["sentence"] in verdict
    assert default["source"] in verdict
    for comp in summary["comparisons"]:
        cell = html.split(f'data-figure="comparison.{comp["pair"]}.{comp["figure"]}"', 1)
        if len(cell) == 1:
            continue  # a pair of a kind the tables do not show
        text = cell[1].split("</td>", 1)[0]
        assert f'<span class="word">{comp["word"]}</span>' in text
        if comp["low"] is not None:
            assert f"{comp['low']:.2f}{DASH}{comp['high']:.2f}" in text
    assert "No round was flagged: all 3 rounds count" in verdict


def test_an_interval_straddling_one_is_undecided(unflagged: tuple[Path, str, str]) -> None:
    run, html, _ = unflagged
    summary = load_summary(run)
    straddling = [
        c
        for c in summary["comparisons"]
        if c["low"] is not None and c["low"] < 1 < c["high"] and c["pair"] in ("default", "granian")
    ]
    assert straddling, "the stored run no longer has an interval across 1"
    for comp in straddling:
        assert comp["word"] == "undecided"
        cell = html.split(f'data-figure="comparison.{comp["pair"]}.{comp["figure"]}"', 1)[1]
        assert '<span class="word">undecided</span>' in cell.split("</td>", 1)[0]
    with_rounds = [c for c in summary["comparisons"] if c["rounds_needed"]]
    assert with_rounds
    text = unescape(html)
    for comp in with_rounds:
        assert f"about {comp['rounds_needed']} rounds would likely settle it" in comp["sentence"]
        assert comp["sentence"] not in text or "would likely settle it" in text
    # No sentence of the verdict states a difference its interval does not support.
    verdict = section(html, "verdict").split("<h3>", 1)[0]
    for comp in summary["comparisons"]:
        if comp["sentence"] in verdict and comp["word"] in ("faster", "slower"):
            assert not comp["low"] <= 1 <= comp["high"]
    # An undecided comparison's sentence carries its rounds-needed text into the verdict.
    granian = next(
        c for c in summary["comparisons"] if c["pair"] == "default" and c["figure"] == "throughput"
    )
    assert granian["sentence"] in verdict


def test_flagged_rounds_are_shown_and_left_out(rendered: tuple[Path, str, str]) -> None:
    run, html, md = rendered
    summary = load_summary(run)
    flagged = [r for r in summary["rounds"] if r["flags"]]
    assert flagged, "the stored run's rounds were flagged (a busy machine): keep one flagged"
    rounds = html.split('id="rounds"', 1)[1].split("</table>", 1)[0]
    for info in summary["rounds"]:
        row = unescape(rounds.split(f'data-round="{info["round"]}"', 1)[1].split("</tr>", 1)[0])
        assert fmt(info["calibration_before"]["best_ms"], "ms") in row
        assert fmt(info["calibration_after"]["best_ms"], "ms") in row
        assert f"{info['drift'] * 100:+.1f} %" in row
        for flag in info["flags"]:
            assert flag in row
            assert "left out of the verdict" in row
    verdict = section(html, "verdict").split("<h3>", 1)[0]
    assert "Flagged and left out of this verdict" in verdict
    for info in flagged:
        assert f"round {info['round']} ({'; '.join(info['flags'])})" in verdict
    assert "| round | wall s | calibration before, ms |" in md
    warnings = section(html, "warnings")
    assert "Flagged rounds, left out of every verdict" in warnings
    cal = summary["calibration"]
    assert f"{fmt(cal['best_ms'], 'ms')} ms best" in section(html, "method")


def test_one_flagged_round_is_left_out_of_the_comparisons(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run", matrix=False)
    flag = "steal time 9.0 % of a core during the round (limit 5 %)"
    summary = recompare(run, {2: [flag]})
    text = report.render(run)[1].read_text(encoding="utf-8")
    verdict = text.split("## 1. Verdict", 1)[1].split("###", 1)[0]
    said = f"Flagged and left out of this verdict: round 2 ({flag}); 2 of 3 rounds count."
    assert said in verdict
    for comp in summary["comparisons"]:
        assert comp["left_out"]["2"].startswith("flagged")
        assert "2" not in comp["ratios"]


def test_an_invalid_peak_is_greyed_and_never_in_the_verdict(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run", matrix=False)
    summary = load_summary(run)
    flask = summary["targets"]["flask"]
    reason = "load generator at 93 % of a core (limit 70 %)"
    flask["peak"].update(valid=False, invalid_reason=reason)
    for figures in flask["rounds"]:
        figures["locust_valid"] = False
    save_summary(run, summary)
    summary = recompare(run, {})
    html = report.render(run)[0].read_text(encoding="utf-8")
    cell = html.split('data-figure="flask.peak.rps"', 1)
    assert 'class="num invalid"' in cell[0].rsplit("<td", 1)[1]
    assert reason in cell[1].split(">", 1)[0] or reason in unescape(cell[0].rsplit("<td", 1)[1])
    verdict = section(html, "verdict").split("<h3>", 1)[0]
    assert fmt(flask["peak"]["rps"], "rps") not in verdict
    default = next(
        c for c in summary["comparisons"] if c["pair"] == "default" and c["figure"] == "throughput"
    )
    assert default["source"].startswith("wrk")
    assert "Locust's peaks, each target at its own level" in verdict
    assert default["source"] in verdict
    assert f"flask, {flask['peak']['phase']}: {reason}" in section(html, "warnings")


def test_charts_latency_and_sustainable(rendered: tuple[Path, str, str]) -> None:
    run, html, md = rendered
    summary = load_summary(run)
    with plt.rc_context(charts.STYLE):  # type: ignore[arg-type]
        fig = charts.latency(load_run(run), [])
    assert len(fig.axes) == 3  # p50, p99, p99.9
    for ax in fig.axes:
        assert ax.get_yscale() == "log"
        by_label = {line.get_label(): line for line in ax.lines}
        for name, target in summary["targets"].items():
            line = by_label[name]
            assert line.get_color() == target["colour"]
            xs = sorted(p["offered_rps"] for p in target["latency_curve"])
            assert list(line.get_xdata()) == xs
        bound = by_label[f"latency bound (p99 ≤ {summary['settings']['slo_ms']:g} ms)"]
        assert set(bound.get_ydata()) == {summary["settings"]["slo_ms"]}
        assert "invalid (greyed)" in by_label or ax is not fig.axes[0]
    plt.close(fig)
    for name in ("latency", "sustainable"):
        figure = html.split(f'data-chart="{name}"', 1)[1].split("</figure>", 1)[0]
        assert "<svg" in figure
        assert (run / "charts" / f"{name}.png").stat().st_size > 1000
        assert f"(charts/{name}.png)" in md
    assert "Latency against offered rate" in html
    assert "Sustainable throughput" in html


def test_invalid_matrix_absent_is_said(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run", matrix=False)
    html_path, md_path = report.render(run)
    html, md = html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    assert 'id="matrix-missing"' in html
    assert "not measured in this run" in html
    assert "not measured in this run" in md
    # the statuses seen under load still show the article handler's crashes
    assert re.search(r'class="s5xx dev" data-target="article-flask" data-status="500"', html)


def test_invalid_matrix_of_the_run_is_rendered(rendered: tuple[Path, str, str]) -> None:
    _, html, _ = rendered
    assert 'id="matrix-missing"' not in html
    assert "Across the invalid-input catalogue: " in section(html, "verdict")


MATRIX_CASES = ("persons_age_string", "gender_null", "empty_body", "duplicate_key_last_valid")


@pytest.fixture(scope="module")
def measured_matrix(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[MatrixRow]:
    """Run a few catalogue cases against real flask-seed and flask servers (the matrix code)."""
    rows: list[MatrixRow] = []
    logs = tmp_path_factory.mktemp("matrix-logs")
    for name in ("flask-seed", "flask"):
        proc, url = launch(get_target(name), cores=None, log_path=logs / f"{name}.log")
        try:
            rows += run_matrix(url, name, proc.pid, [BY_NAME[c] for c in MATRIX_CASES])
        finally:
            proc.stop()
    return rows


@pytest.mark.integration
def test_invalid_matrix_present_is_rendered(
    tmp_path: Path, measured_matrix: list[MatrixRow]
) -> None:
    """A matrix file written by the matrix code shows its marks on flask-seed's rows."""
    run = copy_fixture(tmp_path / "run", matrix=False)
    write_matrix(measured_matrix, run, MatrixMeta(run_id=run.name, cases=len(MATRIX_CASES)))
    html_path, md_path = report.render(run)
    html, md = html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    assert "not measured in this run" not in section(html, "invalid")
    seed = [r for r in measured_matrix if r.target == "flask-seed"]
    crashed = [r for r in seed if r.status == 500]
    assert crashed, "the article's handler no longer crashes on a string"
    assert all(not r.contract_shape for r in crashed)  # its 500 page is HTML, not the contract
    # Each crashed case: a 500 cell with the shape and field marks, in both tables.
    cells = re.findall(
        r'data-target="flask-seed" data-status="500"[^>]*>500((?: <span class="x">✗\w+</span>)*)',
        html,
    )
    assert len(cells) == 2 * len(crashed)
    assert all("✗shape" in c and "✗field" in c for c in cells)
    assert "✗shape" not in html.split('data-target="flask"', 1)[1].split("</tr>", 1)[0]
    for row in crashed:
        assert re.search(rf"\| `{row.case}` \|[^\n]*\*\*500\*\* ✗shape ✗field", md), row.case
    errors = len(crashed)
    ok = sum(1 for r in seed if r.status == r.expected_status)
    assert f"flask-seed {ok}/{len(seed)} as catalogued, {errors} 5xx" in md


def test_html_is_self_contained(rendered: tuple[Path, str, str]) -> None:
    run, html, _ = rendered
    assert html.count("<svg") == len(CHARTS)
    assert not re.search(r"<script|<link|<img|<iframe|@import|@font-face", html)
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    for name in CHARTS:
        assert (run / "charts" / f"{name}.png").stat().st_size > 1000
        assert f"(charts/{name}.png)" in rendered[2]


def test_warnings_list_what_the_reader_must_see(rendered: tuple[Path, str, str]) -> None:
    run, html, _ = rendered
    summary = load_summary(run)
    warnings = section(html, "warnings")
    assert "Invalid figures (load generator without headroom)" in warnings
    for name, target in summary["targets"].items():
        bad = [p for p in target["latency_curve"] if not p["valid"]]
        if bad:
            assert f"{name}, ladder at {fmt(bad[0]['offered_rps'], 'rps')}" in warnings
    assert "Wide spread over rounds" in warnings
    off = [n for n, t in summary["targets"].items() if abs(t["locust_vs_wrk"] - 1) > 0.10]
    for name in off:
        assert f"{name}: Locust's peak" in warnings
    assert "round 1 left out of the verdicts" not in warnings  # said once, in its group


def test_method_explains_rounds_and_names_machine_model_and_command(
    rendered: tuple[Path, str, str],
) -> None:
    run, html, md = rendered
    summary = load_summary(run)
    env, settings = summary["environment"], summary["settings"]
    text = md.split("## 6. Method and environment", 1)[1]
    assert env["cpu_model"] in text
    assert f"{env['model']['held_out_roc_auc']:.4f}" in text
    assert "python -m loadtests.bench --targets " + ",".join(settings["targets"]) in text
    assert f"--rounds {settings['rounds']}" in text
    assert "python -m shared_model.train" in text
    method = section(html, "method")
    for words in (
        "Rounds",
        "Pairing",
        "Bootstrap interval",
        "Tie band",
        f"0.95{DASH}1.05",
        "Validity gate",
        "above 70 % of its core",
        "1.0 ms",
        "Calibration and steal",
        "Ladder",
        "Sustainable throughput",
        "within 5 %",
        f"10{TIMES} the bound",
    ):
        assert words in method, words
    assert 'data-placeholder="gunicorn"' not in html
    assert "Why a gunicorn sync worker behaves this way" in md
    assert "buffering reverse proxy" in method
    assert "CPU µs / req</b> = server CPU %" in html
    assert f"Every step lasts {settings['step_s']} s." in method  # the fixture predates the rule
    assert f"measured again 2{TIMES} as long" in method
    assert "(this run: not recorded)" in method  # the fixture predates the record
    assert f"wrk runs at {WRK_CONNECTIONS} connections for every target, once a round" in method
    assert "--wrk-passes" not in text  # the fixture predates the setting
    assert "every target's servers start once, at the beginning" in method  # and --instances


def test_method_names_the_clients_scheduling(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run")
    summary = load_summary(run)
    summary["client_scheduling"] = "SCHED_FIFO 1"
    summary["settings"]["step_min_requests"] = 800
    save_summary(run, summary)
    html_path, md_path = report.render(run)
    assert "(this run: SCHED_FIFO 1)" in section(html_path.read_text(encoding="utf-8"), "method")
    md = md_path.read_text(encoding="utf-8")
    assert "(this run: SCHED_FIFO 1)" in md
    step_s = summary["settings"]["step_s"]
    assert f"Every step lasts {step_s} s or offers at least 800 requests" in md
    assert "--step-min-requests 800" in md  # the command that repeats the run keeps it


def test_method_names_the_wrk_passes(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run")
    summary = load_summary(run)
    summary["settings"]["wrk_passes"] = 2
    save_summary(run, summary)
    html_path, md_path = report.render(run)
    method = section(html_path.read_text(encoding="utf-8"), "method")
    md = md_path.read_text(encoding="utf-8")
    for text in (method, md):
        assert f"wrk runs at {WRK_CONNECTIONS} connections for every target, twice a round" in text
        assert "in the reverse order" in text
    assert "--wrk-passes 2" in md


def test_method_names_the_server_processes(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run")
    summary = load_summary(run)
    summary["settings"].update(instances=2, rounds=4)
    save_summary(run, summary)
    html_path, md_path = report.render(run)
    method = section(html_path.read_text(encoding="utf-8"), "method")
    md = md_path.read_text(encoding="utf-8")
    for text in (method, md):
        assert "every target's real server starts as 2 processes at the beginning" in text
        assert "round r measures process (r - 1) mod 2 + 1" in text
    assert "--instances 2" in md  # the command that repeats the run keeps it


def test_missing_raw_files_and_partial_run_still_render(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run", matrix=False)
    (run / "phases.csv").unlink()
    summary = load_summary(run)
    summary["status"] = "interrupted"
    summary["error"] = "Ctrl-C"
    summary["targets"]["fastapi-granian"].update(
        sweep=[],
        peak=None,
        invalid_mix=None,
        wrk=None,
        status="partial",
        rounds=[],
        latency_curve=[],
        sustainable_rps=None,
    )
    summary["benchmarks"] = {}
    summary["rounds"] = []
    summary["calibration"] = None
    for target in summary["targets"].values():
        target["decomposition"] = None
    save_summary(run, summary)
    html_path, md_path = report.render(run)
    html = html_path.read_text(encoding="utf-8")
    assert "the run&#39;s status is &#39;interrupted&#39; (Ctrl-C)" in html
    assert html.count("<svg") == len(CHARTS)
    assert "fastapi-granian" in md_path.read_text(encoding="utf-8")


def test_compare_shows_each_change(tmp_path: Path) -> None:
    base = copy_fixture(tmp_path / "base", matrix=False)
    new = copy_fixture(tmp_path / "new", matrix=False)
    summary = load_summary(new)
    summary["run_id"] = "new-run"
    peak = summary["targets"]["flask"]["peak"]
    peak["rps"] = round(peak["rps"] * 3, 3)
    peak["spread"]["rps"] = [peak["rps"] * 0.99, peak["rps"] * 1.01]
    save_summary(new, summary)
    assert report.main([str(new), "--compare", str(base)]) == 0
    base_id = load_summary(base)["run_id"]
    html = (new / f"compare-{base_id}.html").read_text(encoding="utf-8")
    md = (new / f"compare-{base_id}.md").read_text(encoding="utf-8")
    row = html.split('data-figure="flask.peak.rps"', 1)[1].split("</tr>", 1)[0]
    assert "+200.0 %" in row
    assert "outside the ranges" in row
    assert "better" in row
    assert 'data-figure="flask.sustainable_rps.median"' in html
    assert "| peak req/s (Locust) | " in md
    assert "| sustainable req/s | " in md
    assert "unchanged at this rounding" in md
    assert "Paired ratios, base → new" in md


def test_reference_table_and_splice(tmp_path: Path) -> None:
    run = load_run(FIXTURE)
    block = report.reference_block(run)
    for name, target in run.targets.items():
        peak = fmt(target["peak"]["rps"], "rps")
        wrk = fmt(target["wrk"]["rps"], "rps")
        assert f"| `{name}` | {peak} | {wrk} |" in block
    assert "sustainable req/s" in block
    assert run.summary["environment"]["cpu_model"] in block
    assert str(run.summary["started_at"])[:10] in block
    assert "server CPU µs / req, user + kernel" in block
    rounds = run.summary["rounds"]
    flagged = sum(1 for r in rounds if r.get("flags"))
    assert f"{len(rounds)} round(s), {flagged} flagged and left out of its verdicts" in block
    name = next(iter(run.targets))
    run.targets[name]["cpu_split"] = {"user_us": 412.4, "kernel_us": 47.2}
    assert "| 412 + 47 |" in report.reference_block(run).split(f"`{name}`", 1)[1].split("\n")[0]
    del run.targets[name]["cpu_split"]
    text = f"# title\n\nintro\n{report.REFERENCE_START}\nold\n{report.REFERENCE_END}\nafter\n"
    spliced = report.splice(text, block)
    assert spliced.startswith("# title\n\nintro\n")
    assert spliced.endswith(f"{report.REFERENCE_END}\nafter\n")
    assert "old" not in spliced
    assert report.splice(spliced, block) == spliced
    with pytest.raises(ValueError, match="marker"):
        report.splice("no markers here", block)
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    keep = tmp_path / "reference"
    assert report.main([str(FIXTURE), "--readme", str(readme), "--keep", str(keep)]) == 0
    assert block in readme.read_text(encoding="utf-8")
    assert (keep / "summary.json").read_bytes() == (FIXTURE / "summary.json").read_bytes()


def test_lookup_refuses_an_unknown_key() -> None:
    run = load_run(FIXTURE)
    with pytest.raises(KeyError, match="fixed_rate"):
        figure(run, "flask.fixed_rate.0.p99_ms")


def test_cli_reports_a_missing_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main([str(tmp_path / "nothing")]) == 2
    assert "summary.json not found" in capsys.readouterr().err


def test_the_verdict_rests_only_on_figures_that_reproduce(tmp_path: Path) -> None:
    """Common-rate p99 comparisons are shown, never stated in the verdict; throughput and
    sustainable throughput are stated (a whole default run, comparisons recomputed)."""
    run = tmp_path / "run"
    shutil.copytree(Path(__file__).parent / "data" / "default_run_20261126", run)
    recompare(run, {})
    md = report.render(run)[1].read_text(encoding="utf-8")
    comparisons = load_summary(run)["comparisons"]
    verdict = md.split("## 1. Verdict", 1)[1].split("###", 1)[0]
    shown_only = [c for c in comparisons if c["figure"] not in VERDICT_FIGURES]
    assert {c["figure"] for c in shown_only} == {"p99", "cpu_per_request"}
    for comparison in shown_only:
        assert comparison["sentence"] not in verdict, comparison["sentence"]
    assert SHOWN_ONLY in verdict
    stated = [c for c in comparisons if c["figure"] in VERDICT_FIGURES and c["sentence"]]
    assert any(c["sentence"] in verdict for c in stated if c["figure"] == "throughput")
    assert any(c["sentence"] in verdict for c in stated if c["figure"] == "sustainable")
    for c in stated:
        if c["pair"] in {"default", "granian", "handler"}:
            assert c["sentence"] in verdict, c["sentence"]


def comparison_of(summary: dict[str, Any], pair: str, figure: str) -> dict[str, Any]:
    """Return one comparison of a summary."""
    return next(c for c in summary["comparisons"] if c["pair"] == pair and c["figure"] == figure)


def with_aa(run: Path, offset: float, excluded: set[int] | None = None) -> dict[str, Any]:
    """Add an A/A twin of fastapi to a stored run (its rounds' figures times offset), recompute
    the comparisons with the runner's code (leaving out the excluded rounds), and write the
    run's warnings as the runner does."""
    summary = load_summary(run)
    twin = copy.deepcopy(summary["targets"]["fastapi"])
    twin.update(name="fastapi-aa", label="FastAPI (uvicorn, def), A/A twin", twin_of="fastapi")
    for fig in twin["rounds"]:
        for key in ("wrk_rps", "locust_rps", "sustainable_rps"):
            if fig.get(key):
                fig[key] *= offset
    summary["targets"]["fastapi-aa"] = twin
    summary["pairs"].insert(0, {
        "name": "aa", "numerator": "fastapi-aa", "denominator": "fastapi", "kind": "control",
        "label": "A/A control (fastapi : fastapi)", "note": "",
    })  # fmt: skip
    save_summary(run, summary)
    model = read_summary(run)
    model.comparisons = compare(model.targets, model.pairs, excluded or set())
    model.warnings = aa_warnings(model.comparisons) + model.warnings
    summary = model.dump()
    save_summary(run, summary)
    return summary


def test_the_aa_line_leads_the_verdict_and_a_decided_aa_warns(tmp_path: Path) -> None:
    tie = copy_fixture(tmp_path / "tie")
    summary = with_aa(tie, 1.0)
    aa = next(
        c for c in summary["comparisons"] if c["pair"] == "aa" and c["figure"] == "throughput"
    )
    assert aa["word"] in ("tie", "undecided")
    html = report.render(tie)[0].read_text(encoding="utf-8")
    verdict = section(html, "verdict")
    assert verdict.index("A/A control (fastapi : fastapi):") < verdict.index('id="glance"')
    assert "the method did not invent a difference" in verdict
    assert not any("A/A control came out" in w for w in summary["warnings"])
    off = copy_fixture(tmp_path / "off")
    summary = with_aa(off, 1.3)
    aa = next(
        c for c in summary["comparisons"] if c["pair"] == "aa" and c["figure"] == "throughput"
    )
    assert aa["word"] == "faster"
    assert summary["warnings"][0].startswith("the A/A control came out faster")
    html_path, md_path = report.render(off)
    verdict = section(html_path.read_text(encoding="utf-8"), "verdict")
    paragraphs = [p.split("</p>", 1)[0] for p in verdict.split("<p>")[1:]]
    assert "this run's A/A control, fastapi-aa against itself, came out faster" in paragraphs[0]
    assert "intervals are too narrow" in verdict.split('id="glance"', 1)[0]
    assert "A/A control came out faster" in section(
        html_path.read_text(encoding="utf-8"), "warnings"
    )
    assert "came out faster" in md_path.read_text(encoding="utf-8").split("### Headline", 1)[0]


def test_an_aa_control_without_a_usable_round_is_not_called_a_pass(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "none")
    rounds = {r["round"] for r in load_summary(run)["rounds"]}
    with_aa(run, 1.0, excluded=rounds)
    verdict = section(report.render(run)[0].read_text(encoding="utf-8"), "verdict")
    aa = verdict.split('id="glance"', 1)[0]
    assert "A/A control (fastapi : fastapi):" in aa
    assert "not tested, no round was usable" in aa
    assert "did not invent a difference" not in aa


def test_the_glance_says_each_pair_once_and_its_sources_once(
    unflagged: tuple[Path, str, str],
) -> None:
    run, html, _ = unflagged
    summary = load_summary(run)
    verdict = section(html, "verdict")
    glance = verdict.split('id="glance"', 1)[1].split("</ul>", 1)[0]
    lines = glance.count("<li")
    assert 3 <= lines <= 5
    default = next(
        c for c in summary["comparisons"] if c["pair"] == "default" and c["figure"] == "throughput"
    )
    assert (
        f"{default['median']:.2f}{TIMES} ({default['low']:.2f}{DASH}{default['high']:.2f})"
        in glance
    )
    assert "Bad input:" in glance
    words = verdict.split('<div class="verdict">', 1)[1].split("</div>", 1)[0]
    assert words.count(default["source"]) == 1  # said once, for the whole verdict
