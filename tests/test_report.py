"""The report: rendered from a small stored run folder, every figure checked against it."""

from __future__ import annotations

import csv
import json
import re
import shutil
import statistics
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from loadtests.report import render as report
from loadtests.report.format import fmt
from loadtests.report.load import load_run
from loadtests.report.matrix import normalise_matrix
from loadtests.robustness.cases import BY_NAME, CASES

FIXTURE = Path(__file__).parent / "data" / "report_fixture"
SECTIONS = ("verdict", "charts", "invalid", "warnings", "method")
CHARTS = ("throughput", "latency", "decomposition", "grid", "error_path")


def copy_fixture(dest: Path) -> Path:
    """Copy the stored run folder to dest and return it."""
    shutil.copytree(FIXTURE, dest)
    return dest


def load_summary(run: Path) -> dict[str, Any]:
    """Return a run folder's summary.json."""
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def save_summary(run: Path, summary: dict[str, Any]) -> None:
    """Write a run folder's summary.json."""
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Render the fixture run once; return its folder, report.html and report.md text."""
    run = copy_fixture(tmp_path_factory.mktemp("report") / "run")
    html, md = report.render(run)
    return run, html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")


class Figures(HTMLParser):
    """Collect (data-figure, data-unit, shown text) of every tagged cell of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str, str]] = []
        self._open: list[tuple[str, str]] = []
        self._value: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("data-figure"):
            self._open.append((found["data-figure"] or "", found.get("data-unit") or ""))
        if tag == "span" and found.get("class") == "v" and self._open:
            self._value = []

    def handle_data(self, data: str) -> None:
        if self._value is not None:
            self._value.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._value is not None:
            key, unit = self._open.pop()
            self.cells.append((key, unit, "".join(self._value)))
            self._value = None


def figures_of(html: str) -> list[tuple[str, str, str]]:
    """Return the tagged figures of a rendered page."""
    parser = Figures()
    parser.feed(html)
    return parser.cells


# --- the expected figures, computed here from the raw files ---------------------------


def fixed_80(target: dict[str, Any]) -> dict[str, Any]:
    """Return a target's fixed-rate phase at 80 % of its peak."""
    return next(p for p in target["fixed_rate"] if abs(p["fraction"] - 0.8) < 1e-9)


def walk(target: dict[str, Any], path: str) -> Any:
    """Follow a dotted path (``fixed_rate@80``, list indices) into a target's summary."""
    node: Any = target
    for part in path.split("."):
        if part == "fixed_rate@80":
            node = fixed_80(node)
        elif isinstance(node, list):
            node = node[int(part)]
        else:
            node = node[part]
    return node


def rows_of(run: Path) -> list[dict[str, str]]:
    """Return phases.csv of a run folder."""
    with (run / "phases.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def per_repeat(run: Path, summary: dict[str, Any], target: str, figure: str) -> dict[str, float]:
    """Return a pair figure's value per repeat of one target, from phases.csv."""
    rows = [r for r in rows_of(run) if r["target"] == target]
    out: dict[str, float] = {}
    if figure == "rps":
        for row in (r for r in rows if r["section"] == "sweep"):
            out[row["repeat"]] = max(out.get(row["repeat"], 0.0), float(row["rps"]))
        return out
    phase = fixed_80(summary["targets"][target])["phase"]
    for row in (r for r in rows if r["phase"] == phase):
        cpu = float(row["server_cpu_pct"]) / 100 / float(row["rps"]) * 1e6
        out[row["repeat"]] = cpu if figure == "cpu" else float(row["p99_ms"])
    return out


PAIR_TARGETS = {
    "default": ("fastapi", "flask"),
    "granian": ("fastapi-granian", "flask-granian"),
    "async": ("fastapi-async", "flask"),
    "flask_server": ("flask-granian", "flask"),
    "fastapi_server": ("fastapi-granian", "fastapi"),
    "handler": ("fastapi-async", "fastapi"),
    "validation": ("flask", "flask-seed"),
}


def expected(run: Path, summary: dict[str, Any], key: str) -> float | None:
    """Return the figure a report key names, computed independently of the report code."""
    head, _, path = key.partition(".")
    if head == "pair":
        name, figure = path.split(".")
        num, den = PAIR_TARGETS[name]
        a, b = per_repeat(run, summary, num, figure), per_repeat(run, summary, den, figure)
        return statistics.median(a[r] / b[r] for r in sorted(a) if r in b)
    target = summary["targets"][head]
    if path == "derived.cpu_us_per_request":
        phase = fixed_80(target)
        return phase["server_cpu_pct"] / 100 / phase["rps"] * 1e6
    if path == "derived.peak_rss_mb":
        phases = [*target["sweep"], target["controls"]["health"], *target["fixed_rate"]]
        return max(p["server_rss_mb"] for p in [*phases, target["invalid_mix"]])
    if path == "derived.bad_5xx":
        by_case = target["invalid_mix"]["by_case"]
        return sum(
            n
            for case, statuses in by_case.items()
            if case != "valid"
            for status, n in statuses.items()
            if status.startswith("5")
        )
    value = walk(target, path)
    return None if value is None else float(value)


# --- tests ----------------------------------------------------------------------------


def test_every_section_is_present_in_order(rendered: tuple[Path, str, str]) -> None:
    _, html, md = rendered
    positions = [html.index(f'data-section="{name}"') for name in SECTIONS]
    assert positions == sorted(positions)
    headings = [md.index(f"## {i}. ") for i in range(1, 6)]
    assert headings == sorted(headings)
    for words in ("Verdict", "Charts", "Invalid input", "Warnings", "Method and environment"):
        assert words in md


def test_every_figure_equals_summary(rendered: tuple[Path, str, str]) -> None:
    run, html, _ = rendered
    summary = load_summary(run)
    cells = figures_of(html)
    assert len(cells) > 100
    for key, unit, text in cells:
        assert text == fmt(expected(run, summary, key), unit), key


def test_headline_has_every_target_and_column(rendered: tuple[Path, str, str]) -> None:
    run, html, md = rendered
    summary = load_summary(run)
    keys = {key for key, _, _ in figures_of(html)}
    for name in summary["targets"]:
        for column in ("peak.rps", "fixed_rate@80.p50_ms", "fixed_rate@80.p99_ms"):
            assert f"{name}.{column}" in keys
        for derived in ("cpu_us_per_request", "peak_rss_mb", "bad_5xx"):
            assert f"{name}.derived.{derived}" in keys
        peak = fmt(summary["targets"][name]["peak"]["rps"], "rps")
        assert re.search(rf"\| `{re.escape(name)}` \| [^\n]*\| {re.escape(peak)} ", md), name
    for pair in ("default", "granian", "async"):
        assert f"pair.{pair}.rps" in keys


def test_verdict_is_computed_from_the_figures(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run")
    (run / "phases.csv").unlink()  # ratios then come from the summary's medians
    summary = load_summary(run)
    for name in ("fastapi", "fastapi-granian"):
        summary["targets"][name]["peak"]["rps"] = 3000.0
        summary["targets"][name]["peak"]["spread"]["rps"] = [2900.0, 3100.0]
    save_summary(run, summary)
    html, md = report.render(run)
    text = md.read_text(encoding="utf-8")
    verdict = text.split("## 1. Verdict", 1)[1].split("###", 1)[0]
    flask_rps = fmt(summary["targets"]["flask"]["peak"]["rps"], "rps")
    assert "FastAPI (uvicorn, def) served" in verdict
    assert f"(3,000 vs {flask_rps} req/s" in verdict
    assert "Under the same server (granian), FastAPI (granian, def) served" in verdict
    assert "5xx to" in verdict  # the seed target's answers to bad input
    assert html.read_text(encoding="utf-8").count("<svg") == len(CHARTS)


def test_one_repeat_and_a_bound_level_are_flagged(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run")
    (run / "phases.csv").unlink()
    summary = load_summary(run)
    summary["settings"]["repeats"] = 1
    for target in summary["targets"].values():
        target["peak"]["repeats"] = 1
    summary["targets"]["flask"]["sweep"][-1]["load_generator_bound"] = True
    summary["targets"]["flask"]["peak"]["load_generator_bound"] = True
    save_summary(run, summary)
    html, md = report.render(run)
    text = md.read_text(encoding="utf-8")
    assert "one repeat, no spread measured" in text
    assert "one repeat: no spread measured" in text
    assert "**Load-generator-bound figures** (1)" in text
    assert "flask, sweep-c32: Locust at " in text
    assert "LG-bound" in html.read_text(encoding="utf-8")


def test_invalid_matrix_absent_is_said(rendered: tuple[Path, str, str]) -> None:
    _, html, md = rendered
    assert 'id="matrix-missing"' in html
    assert "not measured in this run" in html
    assert "not measured in this run" in md
    # the statuses seen under load still show the seed target's crashes
    assert re.search(r'class="s5xx dev" data-target="flask-seed" data-status="500"', html)


def write_matrix(run: Path) -> list[dict[str, Any]]:
    """Write an invalid_matrix.json: the seed crashes on strings, the rest follow the catalogue."""
    targets = list(load_summary(run)["targets"])
    rows = []
    for case in CASES:
        for target in targets:
            crashed = target == "flask-seed" and case.group == "type_string"
            rows.append(
                {
                    "case": case.name,
                    "target": target,
                    "status": 500 if crashed else case.expected_status,
                    "shape_ok": not crashed,
                    "field_named": not crashed,
                    "latency_ms": 1.5,
                }
            )
    (run / "invalid_matrix.json").write_text(json.dumps({"rows": rows}), encoding="utf-8")
    return rows


def test_invalid_matrix_present_is_rendered(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run")
    write_matrix(run)
    html_path, md_path = report.render(run)
    html, md = html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    assert "not measured in this run" not in html
    strings = sum(1 for c in CASES if c.group == "type_string")
    assert html.count('data-target="flask-seed" data-status="500"') == 2 * strings  # both tables
    assert "✗shape" in html
    assert f"flask-seed {len(CASES) - strings}/{len(CASES)} as catalogued, {strings} 5xx" in md
    assert f"`flask` | {len(CASES)} | {len(CASES)} | 0 |" in md


def test_matrix_reader_accepts_nested_and_csv_shapes() -> None:
    case = CASES[0].name
    nested = normalise_matrix({"flask": {case: {"status_code": 422, "contract_ok": True}}})
    assert nested[0]["target"] == "flask"
    assert nested[0]["status"] == 422
    assert nested[0]["expected"] == BY_NAME[case].expected_status
    assert nested[0]["shape_ok"] is True
    flat = normalise_matrix([{"case": case, "target": "x", "status": "500", "latency_us": "900"}])
    assert flat[0]["status"] == 500
    assert flat[0]["latency_ms"] == pytest.approx(0.9)
    assert normalise_matrix({"schema": "x"}) == []


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
    section = unescape(html.split('data-section="warnings"', 1)[1].split("</section>", 1)[0])
    assert "Wide spread between repeats" in section
    off = [n for n, t in summary["targets"].items() if abs(t["locust_vs_wrk"] - 1) > 0.10]
    assert off
    for name in off:
        assert f"{name}: Locust's peak" in section
    if summary["settings"]["quick"]:
        assert "quick run" in section


def test_method_names_machine_model_and_command(rendered: tuple[Path, str, str]) -> None:
    run, html, md = rendered
    summary = load_summary(run)
    env, settings = summary["environment"], summary["settings"]
    section = md.split("## 5. Method and environment", 1)[1]
    assert env["cpu_model"] in section
    assert f"{env['model']['held_out_roc_auc']:.4f}" in section
    assert "python -m loadtests.bench --targets " + ",".join(settings["targets"]) in section
    assert f"--repeats {settings['repeats']}" in section
    assert "python -m shared_model.train" in section
    assert "CPU µs / req</b> = server CPU %" in html


def test_missing_raw_files_and_partial_run_still_render(tmp_path: Path) -> None:
    run = copy_fixture(tmp_path / "run")
    shutil.rmtree(run / "hdr")
    (run / "phases.csv").unlink()
    summary = load_summary(run)
    summary["status"] = "interrupted"
    summary["error"] = "Ctrl-C"
    summary["targets"]["fastapi-granian"].update(
        sweep=[], peak=None, fixed_rate=[], invalid_mix=None, wrk=None, status="partial"
    )
    summary["benchmarks"] = {}
    for target in summary["targets"].values():
        target["decomposition"] = None
    save_summary(run, summary)
    html_path, md_path = report.render(run)
    html = html_path.read_text(encoding="utf-8")
    assert "the run&#39;s status is &#39;interrupted&#39; (Ctrl-C)" in html
    assert html.count("<svg") == len(CHARTS)
    assert "fastapi-granian" in md_path.read_text(encoding="utf-8")


def test_compare_shows_each_change(tmp_path: Path) -> None:
    base = copy_fixture(tmp_path / "base")
    new = copy_fixture(tmp_path / "new")
    summary = load_summary(new)
    summary["run_id"] = "new-run"
    peak = summary["targets"]["flask"]["peak"]
    peak["rps"] = round(peak["rps"] * 1.5, 3)
    peak["spread"]["rps"] = [peak["rps"] * 0.99, peak["rps"] * 1.01]
    save_summary(new, summary)
    assert report.main([str(new), "--compare", str(base)]) == 0
    base_id = load_summary(base)["run_id"]
    html = (new / f"compare-{base_id}.html").read_text(encoding="utf-8")
    md = (new / f"compare-{base_id}.md").read_text(encoding="utf-8")
    row = html.split('data-figure="flask.peak.rps"', 1)[1].split("</tr>", 1)[0]
    assert "+50.0 %" in row
    assert "outside the spreads" in row
    assert "better" in row
    assert "| peak req/s | " in md
    assert "unchanged at this rounding" in md


def test_reference_table_and_splice(tmp_path: Path) -> None:
    run = load_run(FIXTURE)
    block = report.reference_block(run)
    for name in run.targets:
        assert f"| `{name}` | {fmt(run.targets[name]['peak']['rps'], 'rps')} |" in block
    assert run.summary["environment"]["cpu_model"] in block
    assert str(run.summary["started_at"])[:10] in block
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


def test_cli_reports_a_missing_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main([str(tmp_path / "nothing")]) == 2
    assert "summary.json not found" in capsys.readouterr().err
