"""The invalid-input section: lay out the case x target matrix from invalid_matrix.json.

The rows are ``loadtests.common.runfiles.MatrixRow``, as the matrix code wrote them.
Without the file, the matrix shows the statuses each target returned to the invalid
mix's bad bodies under load (``invalid_mix.by_case``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from loadtests.report.format import DASH, TIMES, Cell, cell
from loadtests.report.load import Run, bad_input
from loadtests.robustness.cases import BY_NAME, CASES


def status_class(status: int | None, expected: int | None) -> str:
    """Return the colour class of a matrix cell: ok, 2xx, 4xx, 5xx or none."""
    if status is None:
        return "none"
    if status >= 500:
        return "5xx"
    if expected is not None and status == expected:
        return "ok"
    return f"{status // 100}xx"


def error_path_rows(run: Run) -> list[dict[str, Any]]:
    """Return, per target, the invalid mix next to valid traffic at the same level."""
    rows = []
    for name, target in run.targets.items():
        mix = target.get("invalid_mix")
        if not mix:
            continue
        users = mix.get("users")
        valid = next((p for p in target.get("sweep") or [] if p.get("users") == users), None)
        level = next(
            (i for i, p in enumerate(target.get("sweep") or []) if p.get("users") == users), None
        )
        vkey = f"{name}.sweep.{level}" if level is not None else None
        counts = bad_input(target)
        rows.append(
            {
                "name": name,
                "users": users,
                "bad_fraction": mix.get("bad_fraction"),
                "valid": [
                    cell(run, f"{vkey}.{k}", u) if vkey else Cell("", u, None, DASH)
                    for k, u in (("rps", "rps"), ("p50_ms", "ms"), ("p99_ms", "ms"))
                ]
                if valid
                else [Cell("", u, None, DASH) for u in ("rps", "ms", "ms")],
                "mix": [
                    cell(run, f"{name}.invalid_mix.{k}", u)
                    for k, u in (("rps", "rps"), ("p50_ms", "ms"), ("p99_ms", "ms"))
                ],
                "error_rate": cell(run, f"{name}.invalid_mix.error_rate", "pct"),
                "counts": counts,
            }
        )
    return rows


def _cell_of(status: int | None, expected: int | None, **extra: Any) -> dict[str, Any]:
    klass = status_class(status, expected)
    css = "snone" if status is None else f"s{str(status)[0]}xx"
    deviates = status is not None and expected is not None and status != expected
    return {"status": status, "css": css + (" dev" if deviates else ""), "class": klass, **extra}


def matrix_view(run: Run) -> dict[str, Any]:
    """Return the case x target matrix: from invalid_matrix when measured, else the mix."""
    targets = list(run.targets)
    order = {c.name: i for i, c in enumerate(CASES)}
    cases: dict[str, dict[str, Any]] = {}
    source = "matrix" if run.matrix else "mix"
    if run.matrix:
        targets = list(dict.fromkeys(r.target for r in run.matrix.rows))
        for row in run.matrix.rows:
            entry = cases.setdefault(row.case, {"case": row.case, "group": row.group, "cells": {}})
            entry["expected"] = row.expected_status
            # An answer without a status has no body to judge: no shape or field mark.
            flags = []
            if row.status is not None and not row.contract_shape:
                flags.append("shape")
            if row.status is not None and not row.names_field:
                flags.append("field")
            entry["cells"][row.target] = _cell_of(
                row.status,
                row.expected_status,
                flags=flags,
                latency=row.latency_ms,
                text=str(row.status if row.status is not None else "none"),
            )
    else:
        for name, target in run.targets.items():
            for case, statuses in ((target.get("invalid_mix") or {}).get("by_case") or {}).items():
                if case == "valid" or not isinstance(statuses, dict) or not statuses:
                    continue
                catalogue = BY_NAME.get(case)
                expected = catalogue.expected_status if catalogue else None
                entry = cases.setdefault(
                    case,
                    {
                        "case": case,
                        "group": catalogue.group if catalogue else "other",
                        "expected": expected,
                        "cells": {},
                    },
                )
                worst = max(statuses, key=lambda s: (str(s) != str(expected), statuses[s]))
                text = ", ".join(f"{s}{TIMES}{n}" if n > 1 else str(s) for s, n in statuses.items())
                entry["cells"][name] = _cell_of(int(worst), expected, flags=[], text=text)
    rows = sorted(cases.values(), key=lambda r: order.get(r["case"], len(order)))
    deviating = [
        r
        for r in rows
        if any("dev" in c["css"] or c["status"] is None or c["flags"] for c in r["cells"].values())
    ]
    totals = {}
    for name in targets:
        cells = [r["cells"][name] for r in rows if name in r["cells"]]
        totals[name] = {
            "cases": len(cells),
            "as_expected": sum(1 for c in cells if c["class"] == "ok" and not c["flags"]),
            "server_errors": sum(1 for c in cells if c["class"] == "5xx"),
            "classes": Counter(c["css"].split()[0] for c in cells),
        }
    return {
        "source": source,
        "targets": targets,
        "groups": _groups(rows, targets),
        "rows": rows,
        "deviating": deviating,
        "totals": totals,
        "catalogue_size": len(CASES),
    }


def _groups(rows: list[dict[str, Any]], targets: list[str]) -> list[dict[str, Any]]:
    """Summarise the matrix by case group: per target, the statuses its cases got."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    out = []
    for group, members in groups.items():
        cells = {}
        for name in targets:
            got = [r["cells"][name] for r in members if name in r["cells"]]
            if not got:
                continue
            statuses = Counter(str(c["status"]) if c["status"] is not None else "none" for c in got)
            worst = max(got, key=lambda c: _SEVERITY.index(c["css"].split()[0]))["css"].split()[0]
            deviates = any("dev" in c["css"] or c["flags"] for c in got)
            cells[name] = {
                "text": " ".join(f"{s}{TIMES}{n}" for s, n in statuses.most_common()),
                "css": worst + (" dev" if deviates else ""),
            }
        expected = sorted({str(r["expected"]) for r in members if r["expected"] is not None})
        out.append(
            {"group": group, "cases": len(members), "expected": "/".join(expected), "cells": cells}
        )
    return out


_SEVERITY = ("s4xx", "s2xx", "snone", "s5xx")
