"""The sweep's ratios: the per-round rows of sweep.json and the tables printed at the end."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from loadtests.bench.sweep.files import Ratio, Sweep, Visit
from loadtests.common.stats import interval
from loadtests.targets import pairs


def framework_pairs(names: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """Return (pair id, label, FastAPI target, Flask target) of the table's pairs among names."""
    return [(v.name, v.label, t.name, v.other) for t, v in pairs(names) if v.kind == "framework"]


def paired_ratios(visits: Sequence[Visit], names: Sequence[str]) -> list[Ratio]:
    """Return each pair's throughput ratio per cost and round (only rounds measuring both)."""
    rps = {(v.cost, v.round, v.target): v.rps for v in visits}
    disturbed = {(v.cost, v.round, v.target) for v in visits if v.disturbed}
    out = []
    for cost, rnd in dict.fromkeys((v.cost, v.round) for v in visits):
        for pair, label, num, den in framework_pairs(names):
            if (cost, rnd, num) in rps and (cost, rnd, den) in rps:
                a, b = rps[cost, rnd, num], rps[cost, rnd, den]
                ratio = round(a / b, 4) if b else None
                out.append(
                    Ratio(
                        pair=pair,
                        label=label,
                        numerator=num,
                        denominator=den,
                        cost=cost,
                        round=rnd,
                        ratio=ratio,
                        disturbed=bool({(cost, rnd, num), (cost, rnd, den)} & disturbed),
                    )
                )
    return out


def ratio_table(sweep: Sweep) -> str:
    """Return the FastAPI:Flask throughput ratios per model cost: median and range over the
    rounds, disturbed ones left out ("(2/3)": two of three rounds kept; "(1.15) (0/3)": all
    disturbed, their median in brackets)."""
    names = sweep.settings.targets
    found = framework_pairs(names)
    head = ["model cost", "CPU µs"] + [f"{num}:{den}" for _, _, num, den in found]
    rows = [head]
    for cost in sweep.settings.costs:
        row = [cost, f"{sweep.model_us.get(cost, 0):.0f}"]
        for pair, *_ in found:
            ratios = [r for r in sweep.ratios if r.cost == cost and r.pair == pair and r.ratio]
            kept = interval(r.ratio for r in ratios if r.ratio and not r.disturbed)
            if kept.median is None:
                # Shown in brackets, as a hint only: every round of it was disturbed.
                shaky = interval(r.ratio for r in ratios if r.ratio).median
                row.append(f"({shaky:.2f}) (0/{len(ratios)})" if shaky is not None else "-")
                continue
            cell = f"{kept.median:.2f}"
            if kept.n > 1:
                cell += f" [{min(kept.values):.2f}-{max(kept.values):.2f}]"
            if kept.n < len(ratios):
                cell += f" ({kept.n}/{len(ratios)})"
            row.append(cell)
        rows.append(row)
    return _format(rows)


def health_table(sweep: Sweep) -> str:
    """Return each target's /predict throughput and /health p99 under load: medians of the
    undisturbed rounds, or in brackets of all rounds when every one was disturbed."""
    names = sweep.settings.targets
    rows = [["model cost", *(f"{n} req/s | /health p99 ms" for n in names)]]
    for cost in sweep.settings.costs:
        row = [cost]
        for name in names:
            every = [v for v in sweep.visits if v.cost == cost and v.target == name]
            visits = [v for v in every if not v.disturbed] or every
            if not visits:
                row.append("-")
                continue
            p99s = [v.health_p99_ms for v in visits if v.health_p99_ms is not None]
            rps = statistics.median(v.rps for v in visits)
            p99 = f"{statistics.median(p99s):.1f}" if p99s else "-"
            cell = f"{rps:.0f} | {p99}"
            row.append(cell if visits is not every or not every[0].disturbed else f"({cell})")
        rows.append(row)
    return _format(rows)


def _format(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
