"""The article's claims, checked: every figure of the section equals the run's files.

The fixture is a real run (summary.json, invalid_matrix.json from the bench runner, and
sweep.json from ``python -m loadtests.bench.sweep``), stored gzipped and unpacked into a
temporary run folder; a test that needs another verdict edits its copy of a real file.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure

from loadtests.bench.sweep import Sweep
from loadtests.common.runfiles import read_matrix, read_summary
from loadtests.common.stats import TIE_BAND
from loadtests.report.claims import claims_view, render_claims
from loadtests.report.sweep_chart import costs, settles_from, sweep_figure

FIXTURE = Path(__file__).parent / "data" / "claims_fixture"
SEEDS = ("article-flask", "article-fastapi")


def unpack(name: str, dest: Path) -> Path:
    """Unpack the fixture's name.gz into dest and return the file."""
    out = dest / name
    out.write_bytes(gzip.decompress((FIXTURE / f"{name}.gz").read_bytes()))
    return out


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """Return a copy of the stored run folder, without its sweep."""
    folder = tmp_path / "run"
    folder.mkdir()
    unpack("summary.json", folder)
    unpack("invalid_matrix.json", folder)
    return folder


@pytest.fixture
def swept(run: Path) -> Path:
    """Return the run folder with the stored sweep.json beside its summary."""
    unpack("sweep.json", run)
    return run


def edit_json(path: Path, change: Any) -> None:
    """Load a JSON file, let change edit it in place, write it back."""
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def figures(html: str) -> dict[str, str]:
    """Return data-figure -> data-value of every tagged element of the HTML."""
    found = re.findall(r'data-figure="([^"]+)"[^>]*?data-value="([^"]*)"', html)
    return dict(found)


def claim(view: dict[str, Any], key: str) -> dict[str, Any]:
    """Return the claims table's row called key."""
    return next(r for r in view["rows"] if r["key"] == key)


def test_fixture_is_real_writer_output(run: Path) -> None:
    """The stored files load through the writers' own models."""
    summary = read_summary(run)
    matrix = read_matrix(run)
    assert matrix is not None
    assert {r.target for r in matrix.rows} >= set(SEEDS)
    assert {"article", "default", "granian"} <= {c.pair for c in summary.comparisons}
    assert Sweep.model_validate_json(gzip.decompress((FIXTURE / "sweep.json.gz").read_bytes()))


def test_flask_5xx_count_equals_matrix(run: Path) -> None:
    """article-flask's 5xx count, error body and /health figures are the matrix's rows."""
    matrix = read_matrix(run)
    assert matrix is not None
    rows = [r for r in matrix.rows if r.target == "article-flask"]
    errors = [r for r in rows if r.status is not None and r.status >= 500]
    view = claims_view(run)
    figures_ = view["invalid"]["targets"]["article-flask"]
    assert figures_["server_errors"] == len(errors) > 0
    assert figures_["bad_cases"] == sum(r.expected_status >= 400 for r in rows)
    assert figures_["health_after_all"] is all(r.health_after for r in rows)
    assert figures_["error_json"] == sum(r.json_body for r in errors)
    assert figures_["error_bytes"] == sorted({r.response_bytes for r in errors})
    row = claim(view, "flask_validation")
    assert (
        f"{len(errors)} of {figures_['bad_cases']} bad inputs got a 5xx"
        in row["measured"][0]["text"]
    )
    assert row["kind"] == "holds_only_when"
    assert "`article-flask`" in row["verdict"]
    html = render_claims(view, "html")
    assert figures(html)["article-flask.invalid.server_errors"] == str(len(errors))


def test_fastapi_200s_by_group_equal_matrix(run: Path) -> None:
    """article-fastapi's 200 answers to bad inputs, counted per catalogue group, are the rows'."""
    matrix = read_matrix(run)
    assert matrix is not None
    rows = [r for r in matrix.rows if r.target == "article-fastapi"]
    accepted = Counter(r.group for r in rows if r.expected_status >= 400 and r.status == 200)
    refused = sum(
        r.expected_status >= 400
        and r.status is not None
        and 400 <= r.status < 500
        and r.json_body
        and r.contract_shape
        for r in rows
    )
    view = claims_view(run)
    figures_ = view["invalid"]["targets"]["article-fastapi"]
    assert {g["group"]: g["count"] for g in figures_["accepted_groups"]} == dict(accepted)
    assert figures_["accepted_bad"] == sum(accepted.values()) > 0
    assert figures_["refused_json"] == refused
    assert figures_["server_errors"] == sum(r.status is not None and r.status >= 500 for r in rows)
    md = render_claims(view, "md")
    for group in figures_["accepted_groups"]:
        assert f"{group['name']} ({group['count']})" in md
    html = render_claims(view, "html")
    tagged = figures(html)
    for group, count in accepted.items():
        assert tagged[f"article-fastapi.invalid.accepted.{group}"] == str(count)
    assert claim(view, "fastapi_validation")["kind"] == "holds_only_when"


def test_docs_offline_per_target_equal_summary(run: Path) -> None:
    """Each target's pages and whether they work offline are summary.json's docs checks."""
    summary = read_summary(run)
    view = claims_view(run)
    shown = {t["name"]: t for t in view["docs"]["targets"]}
    tagged = figures(render_claims(view, "html"))
    for name, target in summary.targets.items():
        assert target.docs is not None
        offline = all(p.usable_offline for p in target.docs.pages)
        assert shown[name]["usable_offline"] is offline
        assert tagged[f"{name}.docs.usable_offline"] == str(int(offline))
        for page in target.docs.pages:
            assert tagged[f"{name}.docs.{page.path.strip('/')}.usable_offline"] == str(
                int(page.usable_offline)
            )
    row = claim(view, "docs")
    article = summary.targets["article-fastapi"].docs
    assert article is not None
    if not all(p.usable_offline for p in article.pages):
        assert row["kind"] == "holds_only_when"
        for page in article.pages:
            for asset in page.external_assets:
                assert asset.split("/")[2] in row["verdict"]


def test_pickle_note_names_the_verified_artifacts(run: Path) -> None:
    """The note lists each served artifact with the SHA-256 of the run's model metadata."""
    artifacts = read_summary(run).environment["model"]["artifacts"]
    row = claim(claims_view(run), "pickle")
    assert row["kind"] == "note"
    for name, info in artifacts.items():
        assert f"`{name}` sha256 `{info['sha256']}`" in row["measured"][0]["text"]


def set_comparison(
    data: dict[str, Any], pair: str, word: str, ratios: list[float], low: float, high: float
) -> None:
    """Give a comparison of the summary, all its figures, new ratios, interval and word."""
    for c in data["comparisons"]:
        if c["pair"] == pair:
            c.update(
                ratios={str(i + 1): r for i, r in enumerate(ratios)},
                left_out={},
                median=sorted(ratios)[len(ratios) // 2],
                low=low,
                high=high,
                method="percentile",
                word=word if c["higher_is_better"] else {"faster": "slower"}.get(word, word),
            )


def faster_only_as_the_article_ran_them(data: dict[str, Any]) -> None:
    """The article's pair faster, every other FastAPI:Flask pair a tie."""
    for pair in ("default", "granian", "async"):
        set_comparison(data, pair, "tie", [0.99, 1.0, 1.01], 0.98, 1.02)
    set_comparison(data, "article", "faster", [1.4, 1.5, 1.6], 1.35, 1.65)


def test_speed_holds_only_when_the_interval_says_faster(run: Path) -> None:
    """Faster in one pair, a tie elsewhere: "holds only when" naming that pair alone."""
    edit_json(run / "summary.json", faster_only_as_the_article_ran_them)
    row = claim(claims_view(run), "speed")
    assert row["kind"] == "holds_only_when"
    holds, _, rest = row["verdict"].partition("; a tie or slower for ")
    assert "`article-fastapi` : `article-flask`" in holds
    assert "`fastapi` : `flask`" not in holds
    assert "`fastapi` : `flask`" in rest
    assert "holds only when" in render_claims(claims_view(run), "md")


def test_speed_does_not_hold_on_ties(run: Path) -> None:
    """Every pair a tie: the claim does not hold."""

    def all_ties(data: dict[str, Any]) -> None:
        for pair in ("article", "default", "granian", "async"):
            set_comparison(data, pair, "tie", [0.99, 1.0, 1.01], 0.98, 1.02)

    edit_json(run / "summary.json", all_ties)
    row = claim(claims_view(run), "speed")
    assert row["kind"] == "does_not_hold"
    assert "faster" not in row["verdict"]


def test_speed_never_states_what_the_interval_does_not_support(run: Path) -> None:
    """A "faster" whose interval includes 1 is read as undecided, never as faster."""

    def unsupported(data: dict[str, Any]) -> None:
        for pair in ("article", "default", "granian", "async"):
            set_comparison(data, pair, "faster", [0.9, 1.2, 1.5], 0.9, 1.5)

    edit_json(run / "summary.json", unsupported)
    view = claims_view(run)
    assert claim(view, "speed")["kind"] == "undecided"
    assert {c["word"] for c in view["speed"]["comparisons"] if c["used"]} == {"undecided"}


def test_speed_undecided_in_the_stored_run(run: Path) -> None:
    """The stored run's words are taken as they are (its rounds were all left out)."""
    summary = read_summary(run)
    view = claims_view(run)
    words = {(c["pair"], c["figure"]): c["word"] for c in view["speed"]["comparisons"]}
    for c in summary.comparisons:
        if (c.pair, c.figure) in words:
            assert words[c.pair, c.figure] == c.word


def test_without_sweep_the_section_says_make_sweep(run: Path) -> None:
    """No sweep.json: the section says how to measure it, and draws nothing."""
    view = claims_view(run)
    assert view["sweep"]["measured"] is False
    assert claim(view, "sweep")["kind"] == "not_measured"
    for fmt in ("html", "md"):
        text = render_claims(view, fmt)  # type: ignore[arg-type]
        assert "Not measured in this run:" in text
        assert "make sweep" in text
        assert "<svg" not in text
    assert not (run / "charts").exists()


def test_with_sweep_the_chart_is_drawn(swept: Path) -> None:
    """sweep.json present: the chart is inline in the HTML, its PNG beside the report."""
    view = claims_view(swept)
    sweep = view["sweep"]
    assert sweep["measured"] is True
    assert (swept / sweep["chart"]["png"]).is_file()
    html = render_claims(view, "html")
    assert 'data-chart="sweep"' in html
    assert "<svg" in html
    md = render_claims(view, "md")
    assert f"]({sweep['chart']['png']})" in md
    stored = Sweep.read(swept)
    assert [r["cost"] for r in sweep["table"]] == [c.name for c in costs(stored)]
    settled = settles_from(stored)
    if settled is None:
        assert "not within the costs measured" in sweep["sentence"]
    else:
        assert f"`{settled.name}`" in sweep["sentence"]


def tie_from(cost_names: set[str]) -> Any:
    """Return an edit making every pair's undisturbed ratios a tie at the given costs."""

    def change(data: dict[str, Any]) -> None:
        for r in data["ratios"]:
            r["disturbed"] = False
            if r["cost"] in cost_names:
                r["ratio"] = {1: 0.99, 2: 1.0, 3: 1.01}.get(r["round"], 1.0)
            else:
                r["ratio"] = {1: 1.5, 2: 1.6, 3: 1.7}.get(r["round"], 1.6)

    return change


def test_sweep_sentence_names_the_cost_where_the_framework_stops_mattering(swept: Path) -> None:
    """Ties from a cost onwards: the sentence names that cost and its model µs."""
    stored = Sweep.read(swept)
    ordered = costs(stored)
    assert len(ordered) >= 2
    dear = {c.name for c in ordered[1:]}
    edit_json(swept / "sweep.json", tie_from(dear))
    view = claims_view(swept)
    first = ordered[1]
    assert view["sweep"]["settled_cost"] == first.name
    assert f"`{first.name}`" in view["sweep"]["sentence"]
    assert f"{first.model_us:,.0f} µs" in view["sweep"]["sentence"]
    assert f"{TIE_BAND[0]:.2f}" in view["sweep"]["sentence"]
    assert claim(view, "sweep")["kind"] == "holds_only_when"
    assert first.name in render_claims(view, "md")


def test_sweep_sentence_without_a_settling_cost(swept: Path) -> None:
    """The dearest cost not a tie: "not within the costs measured"."""
    stored = Sweep.read(swept)
    cheap = {c.name for c in costs(stored)[:-1]}
    edit_json(swept / "sweep.json", tie_from(cheap))
    view = claims_view(swept)
    assert view["sweep"]["settled_cost"] is None
    assert "not within the costs measured" in view["sweep"]["sentence"]


def test_sweep_figure_draws_one_line_per_pair_in_the_targets_colours(swept: Path) -> None:
    """Two panels: a line per pair (FastAPI target's colour), one per target for /health."""
    edit_json(swept / "sweep.json", tie_from(set()))  # every round kept
    stored = Sweep.read(swept)
    colours = {n: t.colour for n, t in read_summary(swept).targets.items()}
    fig = sweep_figure(stored, colours)
    assert isinstance(fig, Figure)
    ratio_ax, health_ax = fig.axes
    assert ratio_ax.get_xscale() == "log"
    pairs = {(r.pair, r.numerator) for r in stored.ratios}
    lines = ratio_ax.get_lines()[1:]  # after the line at 1
    assert len(lines) == len(pairs)
    assert {line.get_color() for line in lines} == {colours[num] for _, num in pairs}
    labels = {text.get_text() for text in health_ax.get_legend().get_texts()}
    assert labels == set(stored.settings.targets)


def test_without_matrix_the_invalid_claims_are_not_measured(run: Path) -> None:
    """No invalid_matrix.json: both validation rows say so, nothing is made up."""
    (run / "invalid_matrix.json").unlink()
    view = claims_view(run)
    for key in ("flask_validation", "fastapi_validation"):
        row = claim(view, key)
        assert row["kind"] == "not_measured"
        assert row["measured"] == []
    assert "no <code>invalid_matrix.json</code>" in render_claims(view, "html")
