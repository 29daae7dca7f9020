"""The invalid-input claims, on Flask and on FastAPI: the matrix's figures per target."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from loadtests.common.runfiles import MatrixFile, MatrixRow, Summary
from loadtests.common.stats import DASH
from loadtests.report.claims._rows import Kind, fact, row
from loadtests.robustness.cases import BY_NAME

FLASK_SEEDS = ("article-flask", "flask-seed")
FASTAPI_SEEDS = ("article-fastapi", "fastapi-seed")
GROUP_NAMES = {
    "type_string": "words",
    "type_numeric_string": "numeric strings",
    "type_boolean": "booleans",
    "type_null": "nulls",
    "type_list": "lists",
    "type_object": "objects",
    "type_fraction": "fractions in integer fields",
    "range_below": "below range",
    "range_above": "above range",
    "missing": "missing fields",
    "cross_field": "diastolic not below systolic",
    "number": "NaN, infinity and huge numbers",
    "shape": "document shape (unknown fields, wrong top level)",
    "malformed": "malformed JSON",
    "duplicate": "duplicate keys",
    "nesting": "deep nesting",
    "size": "body size",
    "encoding": "encoding",
    "content_type": "content types",
    "method": "methods",
}
Target = Mapping[str, Any]  # one target_matrix
Judged = tuple[list[dict[str, Any]], Kind, str]  # measured facts, kind, verdict
Judge = Callable[[list[Target], Mapping[str, Target]], Judged]  # (seeds, all targets)


def _bad(r: MatrixRow) -> bool:
    """Tell whether the catalogue expects the case to be refused."""
    return r.expected_status >= 400


def _group_name(group: str) -> str:
    return GROUP_NAMES.get(group, group.replace("_", " "))


def target_matrix(name: str, rows: list[MatrixRow], label: str) -> dict[str, Any]:
    """Return one target's figures over the catalogue."""
    bad = [r for r in rows if _bad(r)]
    errors = [r for r in rows if r.status is not None and r.status >= 500]
    refused = [
        r
        for r in bad
        if r.status is not None and 400 <= r.status < 500 and r.json_body and r.contract_shape
    ]
    accepted = [r for r in bad if r.status is not None and 200 <= r.status < 300]
    groups: dict[str, list[str]] = {}
    for r in accepted:
        groups.setdefault(r.group, []).append(r.case)
    error_groups = Counter(r.group for r in errors)
    sizes = sorted({r.response_bytes for r in errors})
    return {
        "name": name,
        "label": label,
        "cases": len(rows),
        "bad_cases": len(bad),
        "server_errors": len(errors),
        "server_error_groups": [
            {"group": g, "name": _group_name(g), "count": n} for g, n in error_groups.items()
        ],
        "refused_json": len(refused),
        "accepted_bad": len(accepted),
        "accepted_groups": [
            {
                "group": g,
                "name": _group_name(g),
                "count": len(cases),
                "cases": cases,
                "descriptions": [BY_NAME[c].description for c in cases if c in BY_NAME],
            }
            for g, cases in groups.items()
        ],
        "no_answer": sum(r.status is None for r in rows),
        "health_after_all": all(r.health_after for r in rows),
        "health_failures": sum(not r.health_after for r in rows),
        "worker_restarts": sum(r.worker_restarted for r in rows),
        "error_json": sum(r.json_body for r in errors),
        "error_contract_shape": sum(r.contract_shape for r in errors),
        "error_names_field": sum(r.names_field and bool(r.field) for r in errors),
        "error_traceback": sum(r.traceback for r in errors),
        "error_bytes": sizes,
        "error_bytes_text": _bytes_text(sizes),
    }


def _bytes_text(sizes: list[int]) -> str:
    if not sizes:
        return DASH
    if sizes[0] == sizes[-1]:
        return f"{sizes[0]:,} bytes"
    return f"{sizes[0]:,}{DASH}{sizes[-1]:,} bytes"


def invalid_view(matrix: MatrixFile | None, summary: Summary) -> dict[str, Any]:
    """Return per target the matrix's figures (None when the run has no matrix)."""
    if matrix is None:
        return {"measured": False, "targets": {}}
    by_target: dict[str, list[MatrixRow]] = {}
    for r in matrix.rows:
        by_target.setdefault(r.target, []).append(r)
    targets = {}
    for name, rows in by_target.items():
        known = summary.targets.get(name)
        label = known.label if known else rows[0].label
        targets[name] = target_matrix(name, rows, label)
    return {"measured": True, "catalogue": matrix.meta.cases, "targets": targets}


def _seed_row(
    invalid: Mapping[str, Any],
    key: str,
    topic: str,
    claim: str,
    names: tuple[str, ...],
    judge: Judge,
) -> dict[str, Any]:
    """Return a claim's row judged on its seed targets (not measured without one)."""
    seeds = [invalid["targets"][n] for n in names if n in invalid["targets"]]
    if not seeds:
        reason = "`invalid_matrix.json` absent" if not invalid["measured"] else "no seed target"
        return row(key, topic, claim, [], "not_measured", f"not measured in this run: {reason}.")
    measured, kind, verdict = judge(seeds, invalid["targets"])
    return row(key, topic, claim, measured, kind, verdict)


def flask_row(invalid: Mapping[str, Any]) -> dict[str, Any]:
    """Return the row of "Flask gives no validation; a string crashes it with an error page"."""
    claim = (
        "Flask gives no data validation, and a string input crashes the program with an "
        "error page that says nothing about the cause."
    )
    return _seed_row(
        invalid, "flask_validation", "Invalid input, Flask", claim, FLASK_SEEDS, _judge_flask
    )


def _judge_flask(seeds: list[Target], targets: Mapping[str, Target]) -> Judged:
    measured = [_seed_fact(t) for t in seeds]
    validated = targets.get("flask")
    if validated:
        measured.append(_validated_fact(validated, "this project's Flask"))
    crashed = [t["name"] for t in seeds if not t["health_after_all"] or t["worker_restarts"]]
    errors = [t for t in seeds if t["server_errors"]]
    if not errors:
        return measured, "does_not_hold", "no bad input got a 5xx."
    names = ", ".join(f"`{t['name']}`" for t in errors)
    verdict = f"the handler is the article's unvalidated one ({names})"
    if validated:
        verdict += f"; the validated `flask` target answered {validated['server_errors']} 5xx"
    if crashed:
        verdict += "; the server stopped answering /health after some case: " + ", ".join(crashed)
    else:
        verdict += (
            "; the program does not crash: each bad request fails with a 500 and the server "
            "kept answering /health after every case"
        )
    return measured, "holds_only_when", verdict + "."


def _seed_fact(t: Mapping[str, Any]) -> dict[str, Any]:
    body = (
        f"the 500 body: {'JSON' if t['error_json'] else 'not JSON'} "
        f"({t['error_json']} of {t['server_errors']} JSON, "
        f"{t['error_contract_shape']} in the contract's error shape, "
        f"{t['error_names_field']} naming a field, {t['error_traceback']} with a traceback), "
        f"{t['error_bytes_text']}"
    )
    groups = ", ".join(f"{g['name']} {g['count']}" for g in t["server_error_groups"])
    health = (
        "answered /health after every case"
        if t["health_after_all"]
        else f"no /health answer after {t['health_failures']} case(s)"
    )
    return fact(
        f"`{t['name']}`: {t['server_errors']} of {t['bad_cases']} bad inputs got a 5xx "
        f"({groups or 'none'}) and {t['accepted_bad']} a 200; {body}; {health}; "
        f"{t['worker_restarts']} worker restart(s)",
        f"{t['name']}.invalid.server_errors",
        t["server_errors"],
        "count",
    )


def _validated_fact(t: Mapping[str, Any], what: str) -> dict[str, Any]:
    return fact(
        f"`{t['name']}` ({what}): {t['refused_json']} of {t['bad_cases']} bad "
        f"inputs refused with the contract's JSON error, {t['accepted_bad']} answered 200, "
        f"{t['server_errors']} 5xx",
        f"{t['name']}.invalid.refused_json",
        t["refused_json"],
        "count",
    )


def fastapi_row(invalid: Mapping[str, Any]) -> dict[str, Any]:
    """Return the row of "FastAPI detects invalid datatypes and answers the reason in JSON"."""
    claim = (
        "FastAPI detects invalid datatypes during the run and returns the reason for bad "
        "input in JSON."
    )
    return _seed_row(
        invalid,
        "fastapi_validation",
        "Invalid input, FastAPI",
        claim,
        FASTAPI_SEEDS,
        _judge_fastapi,
    )


def _judge_fastapi(seeds: list[Target], targets: Mapping[str, Target]) -> Judged:
    measured = []
    for t in seeds:
        groups = ", ".join(f"{g['name']} {g['count']}" for g in t["accepted_groups"])
        measured.append(
            fact(
                f"`{t['name']}`: {t['refused_json']} of {t['bad_cases']} bad inputs refused "
                f"with a JSON reason; {t['accepted_bad']} answered 200"
                f"{f' ({groups})' if groups else ''}; {t['server_errors']} 5xx",
                f"{t['name']}.invalid.accepted_bad",
                t["accepted_bad"],
                "count",
            )
        )
    validated = targets.get("fastapi")
    if validated:
        measured.append(_validated_fact(validated, "this project's FastAPI"))
    accepted = [t for t in seeds if t["accepted_bad"] or t["server_errors"]]
    if not accepted:
        return measured, "holds", "every bad input got a JSON reason."
    if not any(t["refused_json"] for t in seeds):
        return measured, "does_not_hold", "no bad input got a reason."
    parts = []
    for t in accepted:
        groups = ", ".join(g["name"] for g in t["accepted_groups"])
        part = f"`{t['name']}` answered 200 to {t['accepted_bad']} bad inputs ({groups})"
        if t["server_errors"]:
            part += f" and 5xx to {t['server_errors']}"
        parts.append(part)
    verdict = "the bad value cannot be read as the field's declared type (float): " + "; ".join(
        parts
    )
    return measured, "holds_only_when", verdict + "."
