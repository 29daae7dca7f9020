"""The invalid-input section: read invalid_matrix.json/.csv, lay out the case x target matrix.

``invalid_matrix`` (written by the bench runner when it measures the catalogue against
every target) may be a list of rows or nested by target; the reader accepts both and
the usual spellings of its fields. Without it, the matrix shows the statuses each target
returned to the invalid mix's bad bodies under load (``invalid_mix.by_case``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from loadtests.report.format import DASH, TIMES, Cell, cell
from loadtests.report.load import Data, Run, bad_input, number, read_csv

_ALIASES = {
    "case": ("case", "case_name", "name"),
    "target": ("target", "target_name"),
    "status": ("status", "status_code", "code"),
    "expected": ("expected_status", "expected"),
    "shape_ok": ("shape_ok", "contract_ok", "contract_shape_ok", "shape"),
    "field_named": ("field_named", "names_field", "field_ok", "fields_named"),
    "latency_ms": ("latency_ms", "elapsed_ms", "ms"),
    "latency_us": ("latency_us", "elapsed_us", "us"),
    "group": ("group",),
    "error": ("error",),
}


def _pick(row: Data, name: str) -> Any:
    for alias in _ALIASES[name]:
        if alias in row and row[alias] not in ("", None):
            return row[alias]
    return None


def _flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "none", "null", "n/a", "-"):
            return None
        return text in ("1", "true", "yes", "ok", "y")
    return bool(value)


def _rows_of(data: Any) -> Iterable[Data]:
    """Yield flat rows from the shapes an invalid matrix may take."""
    if isinstance(data, list):
        yield from (r for r in data if isinstance(r, dict))
        return
    if not isinstance(data, dict):
        return
    for key in ("rows", "results", "cells", "matrix"):
        if isinstance(data.get(key), list | dict):
            yield from _rows_of(data[key])
            return
    targets = data.get("targets")
    # {target: {case: cell}} (or {case: {target: cell}} when the outer keys are cases)
    outer_are_targets = isinstance(targets, list) and set(data) & set(targets)
    for outer, inner in data.items():
        if not isinstance(inner, dict) or outer in ("targets", "cases", "schema", "settings"):
            continue
        for key, value in inner.items():
            found = value if isinstance(value, dict) else {"status": value}
            if outer_are_targets or "case" not in found:
                yield {"target": outer, "case": key, **found}
            else:
                yield {"case": outer, "target": key, **found}


def normalise_matrix(data: Any) -> list[Data]:
    """Return invalid-matrix rows as {case, target, status, expected, shape_ok, ...}."""
    from loadtests.robustness.cases import BY_NAME

    out: list[Data] = []
    for row in _rows_of(data):
        case, target = _pick(row, "case"), _pick(row, "target")
        if case is None or target is None:
            continue
        status = number(_pick(row, "status"))
        expected = number(_pick(row, "expected"))
        catalogue = BY_NAME.get(str(case))
        if expected is None and catalogue is not None:
            expected = catalogue.expected_status
        latency = number(_pick(row, "latency_ms"))
        if latency is None and (us := number(_pick(row, "latency_us"))) is not None:
            latency = us / 1000.0
        out.append(
            {
                "case": str(case),
                "target": str(target),
                "group": _pick(row, "group") or (catalogue.group if catalogue else "other"),
                "status": int(status) if status is not None else None,
                "expected": int(expected) if expected is not None else None,
                "shape_ok": _flag(_pick(row, "shape_ok")),
                "field_named": _flag(_pick(row, "field_named")),
                "latency_ms": latency,
                "error": _pick(row, "error"),
            }
        )
    return out


def load_matrix(path: Path) -> list[Data] | None:
    """Load invalid_matrix.json (or .csv) of a run folder; None when it was not measured."""
    json_path, csv_path = path / "invalid_matrix.json", path / "invalid_matrix.csv"
    if json_path.is_file():
        rows = normalise_matrix(json.loads(json_path.read_text(encoding="utf-8")))
    elif csv_path.is_file():
        rows = normalise_matrix(read_csv(csv_path))
    else:
        return None
    return rows or None


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
    from loadtests.robustness.cases import BY_NAME, CASES

    targets = list(run.targets)
    order = {c.name: i for i, c in enumerate(CASES)}
    cases: dict[str, dict[str, Any]] = {}
    source = "matrix" if run.matrix else "mix"
    if run.matrix:
        targets = list(dict.fromkeys(r["target"] for r in run.matrix))
        for row in run.matrix:
            entry = cases.setdefault(
                row["case"], {"case": row["case"], "group": row["group"], "cells": {}}
            )
            entry["expected"] = row["expected"]
            flags = []
            if row["shape_ok"] is False:
                flags.append("shape")
            if row["field_named"] is False:
                flags.append("field")
            entry["cells"][row["target"]] = _cell_of(
                row["status"],
                row["expected"],
                flags=flags,
                latency=row["latency_ms"],
                text=str(row["status"] if row["status"] is not None else "none"),
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
