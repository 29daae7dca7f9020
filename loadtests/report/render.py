"""Render a bench run's report: report.html (self-contained) and report.md, from its files.

    python -m loadtests.report RUN_DIR                    # RUN_DIR/report.html, report.md
    python -m loadtests.report NEW_DIR --compare BASE_DIR # NEW_DIR/compare-<base id>.html/.md
    python -m loadtests.report RUN_DIR --readme README.md # splice the reference table

Everything shown comes from the run folder (summary.json, phases.csv, the HdrHistogram
percentile CSVs, invalid_matrix.json when measured); charts are matplotlib SVG inlined
into the HTML, and PNGs under RUN_DIR/charts/ for the Markdown. The HTML needs no
network: no scripts, fonts or styles are fetched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import jinja2

from loadtests.report import view
from loadtests.report.charts import draw, draw_compare
from loadtests.report.claims import claims_view
from loadtests.report.costs import alone_rows, alone_shift, cost_rows, cost_sentence
from loadtests.report.format import change, fmt, fmt_change, fmt_spread
from loadtests.report.glance import aa_line, glance, sources
from loadtests.report.load import (
    Run,
    figure,
    load_run,
    lookup,
    ranked_source,
    round_values,
    spread_of,
)
from loadtests.report.matrix import error_path_rows, matrix_view
from loadtests.report.reference import (
    REFERENCE_END,
    REFERENCE_START,
    reference_block,
    splice,
    write_reference,
)
from loadtests.report.style import Chart, colours
from loadtests.report.verdict import verdict

__all__ = [
    "REFERENCE_END",
    "REFERENCE_START",
    "compare",
    "main",
    "reference_block",
    "render",
    "screenshot",
    "splice",
]

TEMPLATES = Path(__file__).parent / "templates"
CHART_DIR = "charts"
LOWER_IS_BETTER = ("_ms", "error_rate", "cpu_us", "rss_mb", "bad_5xx")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    return env


def context(run: Run, charts: list[Chart]) -> dict[str, Any]:
    """Return everything the report templates show for a run."""
    claims = claims_view(run.path)
    aa = aa_line(run)
    return {
        "glance": glance(run, claims.get("sweep")),
        "aa_line": aa,
        "sources": sources(run),
        "costs": cost_rows(run),
        "cost_sentence": cost_sentence(run),
        "alone": alone_rows(run),
        "alone_shift": alone_shift(run),
        "rungs": view.rung_rows(run),
        "run": run,
        "summary": run.summary,
        "title": f"Flask vs FastAPI serving one scikit-learn model: run {run.run_id}",
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "verdict": [*verdict(run), *sweep_sentence(claims)],
        "headline_columns": [c.heading for c in view.headline_columns(run)],
        "throughput": ranked_source(run),
        "headline": view.headline(run),
        "ratio_columns": [heading for _, heading in view.RATIO_FIGURES],
        "framework_pairs": view.ratio_rows(run, "framework"),
        "other_pairs": view.ratio_rows(run, "other"),
        "rounds": view.rounds_table(run),
        "charts": {c.name: c for c in charts},
        "colours": colours(run),
        "controls": _controls(run),
        "decomposition": view.decomposition_rows(run),
        "cpu_parts": view.CPU_PARTS,
        "error_path": error_path_rows(run),
        "matrix": matrix_view(run),
        "warnings": view.warnings(run),
        "method": view.method(run),
        "limits": view.LIMITS,
        "claims": claims,
    }


def sweep_sentence(claims: dict[str, Any]) -> list[str]:
    """Return the model-cost sweep's sentence when the run folder holds a sweep.json."""
    sweep = claims.get("sweep") or {}
    return [sweep["sentence"]] if sweep.get("measured") and sweep.get("sentence") else []


def _controls(run: Run) -> list[dict[str, Any]]:
    rows = []
    for name, target in run.targets.items():
        controls = target.get("controls") or {}
        ratios = target.get("ratios") or {}
        rows.append(
            {
                "name": name,
                "health": (controls.get("health") or {}).get("rps"),
                "noop": (controls.get("noop") or {}).get("rps"),
                "predict": (target.get("peak") or {}).get("rps"),
                "predict_to_noop": ratios.get("predict_to_noop"),
                "noop_to_health": ratios.get("noop_to_health"),
            }
        )
    return rows


def render(run_dir: Path) -> tuple[Path, Path]:
    """Render run_dir/report.html and run_dir/report.md; return their paths."""
    run = load_run(run_dir)
    charts = draw(run, run.path / CHART_DIR)
    data = context(run, charts)
    html_path, md_path = run.path / "report.html", run.path / "report.md"
    html_path.write_text(_env(True).get_template("report.html.j2").render(data), "utf-8")
    md_path.write_text(_env(False).get_template("report.md.j2").render(data), "utf-8")
    return html_path, md_path


# --- compare --------------------------------------------------------------------------


def figure_spread(run: Run, key: str) -> tuple[float, float] | None:
    """Return a figure's [min, max] over rounds, or its 95 % interval (sustainable)."""
    target_name, _, path = key.partition(".")
    target = run.targets.get(target_name) or {}
    if path == "derived.cpu_us_per_request":
        values = round_values(target, "cpu_us_per_request")
        return (min(values), max(values)) if len(values) >= 2 else None
    if path == "sustainable_rps.median":
        found = target.get("sustainable_rps") or {}
        low, high = found.get("low"), found.get("high")
        return (float(low), float(high)) if low is not None and high is not None else None
    if path.startswith("derived.") or "." not in path:
        return None
    phase_path, _, leaf = path.rpartition(".")
    phase = lookup(target, phase_path)
    return spread_of(phase, leaf) if isinstance(phase, dict) else None


def compare_row(base: Run, new: Run, key: str, unit: str) -> dict[str, Any]:
    """Return one figure of both runs with its change and whether the change is noise."""
    a, b = figure(base, key), figure(new, key)
    sa, sb = figure_spread(base, key), figure_spread(new, key)
    delta = change(a, b)
    if a is None or b is None:
        noise, significance = None, "measured in one run only"
    elif fmt(a, unit) == fmt(b, unit):
        noise, significance = None, "unchanged at this rounding"
    elif sa and sb:
        noise = sa[0] <= sb[1] and sb[0] <= sa[1]
        significance = "within noise (ranges overlap)" if noise else "outside the ranges"
    elif sa or sb:
        low, high = sa or sb or (0.0, 0.0)
        other, side = (b, "base") if sa else (a, "new")
        noise = low <= other <= high
        where = "within" if noise else "outside"
        significance = f"{where} the {side} run's range (the other has none)"
    else:
        noise, significance = None, "no range (one round in each run)"
    lower_better = any(part in key for part in LOWER_IS_BETTER)
    better = None if delta in (None, 0) else ((delta < 0) == lower_better)
    return {
        "key": key,
        "base": fmt(a, unit),
        "new": fmt(b, unit),
        "base_spread": fmt_spread(sa, unit),
        "new_spread": fmt_spread(sb, unit),
        "change": fmt_change(delta),
        "arrow": "" if not delta else ("\u25b2" if delta > 0 else "\u25bc"),
        "better": better,
        "noise": noise,
        "significance": significance,
    }


def compare_context(base: Run, new: Run, charts: list[Chart]) -> dict[str, Any]:
    """Return what the comparison templates show."""
    names = list(dict.fromkeys([*new.targets, *base.targets]))
    targets = []
    for name in names:
        rows = [
            {"heading": heading, **compare_row(base, new, f"{name}.{key}", unit)}
            for key, unit, heading in view.COMPARED
        ]
        only = None
        if name not in base.targets:
            only = f"only in the new run ({new.run_id})"
        elif name not in new.targets:
            only = f"only in the base run ({base.run_id})"
        targets.append({"name": name, "rows": rows, "only": only})
    pairs = []
    for kind in ("framework", "other"):
        for pair in new.pairs:
            if pair.kind != kind:
                continue
            for fig, heading in view.RATIO_FIGURES[:2]:
                a, b = base.comparison(pair.name, fig), new.comparison(pair.name, fig)
                if b is None:
                    continue
                pairs.append(
                    {
                        "label": pair.label,
                        "figure": heading,
                        "numerator": pair.numerator,
                        "denominator": pair.denominator,
                        "base": fmt(a.median if a else None, "ratio"),
                        "base_word": a.word if a else "",
                        "new": fmt(b.median, "ratio"),
                        "new_word": b.word,
                        "change": fmt_change(change(a.median if a else None, b.median)),
                    }
                )
    return {
        "title": f"Run {new.run_id} compared with {base.run_id}",
        "base": base,
        "new": new,
        "targets": targets,
        "pairs": pairs,
        "differences": _differences(base, new),
        "charts": charts,
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _differences(base: Run, new: Run) -> list[tuple[str, str, str]]:
    """Return the settings and environment facts that differ between two runs."""
    out: list[tuple[str, str, str]] = []
    facts = (
        ("settings", ("levels", "duration_s", "warmup_s", "rounds", "quick", "server_workers")),
        ("settings", ("slo_ms", "step_s", "ladder")),
        ("settings", ("server_cores", "lg_cores", "locust_workers", "invalid_fraction")),
        ("environment", ("cpu_model", "cpu_count", "kernel", "python", "git")),
    )
    for section, keys in facts:
        a, b = base.summary.get(section) or {}, new.summary.get(section) or {}
        out += [(k, str(a.get(k)), str(b.get(k))) for k in keys if a.get(k) != b.get(k)]
    pa = (base.summary.get("environment") or {}).get("packages") or {}
    pb = (new.summary.get("environment") or {}).get("packages") or {}
    names = sorted({*pa, *pb})
    out += [(k, str(pa.get(k)), str(pb.get(k))) for k in names if pa.get(k) != pb.get(k)]
    return out


def compare(new_dir: Path, base_dir: Path) -> tuple[Path, Path]:
    """Render new_dir/compare-<base id>.html and .md; return their paths."""
    base, new = load_run(base_dir), load_run(new_dir)
    charts = draw_compare(base, new, new.path / CHART_DIR)
    data = compare_context(base, new, charts)
    stem = new.path / f"compare-{base.run_id}"
    html_path, md_path = stem.with_suffix(".html"), stem.with_suffix(".md")
    html_path.write_text(_env(True).get_template("compare.html.j2").render(data), "utf-8")
    md_path.write_text(_env(False).get_template("compare.md.j2").render(data), "utf-8")
    return html_path, md_path


# --- screenshot -----------------------------------------------------------------------


def screenshot(html: Path, png: Path, executable: str = CHROMIUM) -> None:
    """Write a full-page screenshot of a report with headless Chromium (Playwright)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(html.resolve().as_uri())
            page.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m loadtests.report``."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, help="a run folder (results/<run> or results/latest)")
    parser.add_argument(
        "--compare", type=Path, metavar="BASE_DIR", help="write RUN_DIR/compare-<base id>.*"
    )
    parser.add_argument(
        "--readme",
        type=Path,
        metavar="PATH",
        help="splice the run's reference table into PATH between the reference markers",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="with --readme: keep a copy of the run's summary.json in DIR",
    )
    parser.add_argument(
        "--screenshot", action="store_true", help="also write RUN_DIR/report.png (Chromium)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the report command line."""
    args = build_parser().parse_args(argv)
    try:
        if args.readme:
            path = write_reference(args.run_dir, args.readme, args.keep)
            print(f"reference table of {args.run_dir} spliced into {path}")
            return 0
        if args.compare:
            for path in compare(args.run_dir, args.compare):
                print(path)
            return 0
        html, md = render(args.run_dir)
        print(html)
        print(md)
        if args.screenshot:
            screenshot(html, html.with_name("report.png"))
            print(html.with_name("report.png"))
    except (FileNotFoundError, ValueError) as error:
        print(f"report: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
