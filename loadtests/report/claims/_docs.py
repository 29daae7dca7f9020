"""The claims checked without load: the documentation pages, and the note on the model file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtests.common.runfiles import Summary
from loadtests.report.claims._rows import fact, row


def docs_view(summary: Summary) -> dict[str, Any]:
    """Return per target its OpenAPI status and pages, each with the hosts it loads from."""
    out = []
    for name, t in summary.targets.items():
        if t.docs is None:
            continue
        pages = [
            {
                "path": p.path,
                "status": p.status,
                "external": p.external_assets,
                "hosts": sorted({_host(a) for a in p.external_assets}),
                "usable_offline": p.usable_offline,
                "key": f"{name}.docs.{p.path.strip('/')}.usable_offline",
            }
            for p in t.docs.pages
        ]
        out.append(
            {
                "name": name,
                "label": t.label,
                "openapi_status": t.docs.openapi_status,
                "pages": pages,
                "served": [p["path"] for p in pages if p["status"] == 200],
                "usable_offline": bool(pages) and all(p["usable_offline"] for p in pages),
            }
        )
    return {"targets": out}


def _host(url: str) -> str:
    return url.split("//", 1)[-1].split("/", 1)[0]


def docs_row(docs: Mapping[str, Any]) -> dict[str, Any]:
    """Return the row of "FastAPI generates /docs and /redoc"."""
    claim = "FastAPI generates interactive documentation at /docs and /redoc."
    key, topic = "docs", "Documentation"
    targets = {t["name"]: t for t in docs["targets"]}
    if not targets:
        return row(key, topic, claim, [], "not_measured", "not measured in this run.")
    measured = []
    for t in targets.values():
        served = ", ".join(t["served"]) or "neither page"
        hosts = sorted({h for p in t["pages"] for h in p["hosts"]})
        offline = "usable offline" if t["usable_offline"] else "not usable offline"
        loads = f", loads assets from {', '.join(hosts)}" if hosts else ""
        measured.append(
            fact(
                f"`{t['name']}`: OpenAPI {t['openapi_status'] or 'no answer'}, serves {served}"
                f"{loads}: {offline}",
                f"{t['name']}.docs.usable_offline",
                float(t["usable_offline"]),
                "bool",
            )
        )
    article = targets.get("article-fastapi")
    fastapi_like = article or next((t for n, t in targets.items() if n.startswith("fastapi")), None)
    if fastapi_like is None:
        return row(key, topic, claim, measured, "not_measured", "no FastAPI target checked.")
    if len(fastapi_like["served"]) < 2:
        return row(key, topic, claim, measured, "does_not_hold", "the pages do not answer 200.")
    ours = [n for n in ("flask", "fastapi") if n in targets and targets[n]["usable_offline"]]
    ours_text = (
        f"; this project serves both offline on {', '.join(f'`{n}`' for n in ours)}" if ours else ""
    )
    if fastapi_like["usable_offline"]:
        verdict = f"holds: `{fastapi_like['name']}` serves both pages, usable offline{ours_text}."
        return row(key, topic, claim, measured, "holds", verdict)
    hosts = sorted({h for p in fastapi_like["pages"] for h in p["hosts"]})
    verdict = (
        f"the browser can reach {', '.join(hosts) or 'the internet'}: "
        f"`{fastapi_like['name']}` serves both pages but loads Swagger UI and ReDoc from "
        f"there (blank offline){ours_text}."
    )
    return row(key, topic, claim, measured, "holds_only_when", verdict)


def model_view(summary: Summary) -> dict[str, Any]:
    """Return the served artifacts with their SHA-256, from the run's model metadata."""
    model = summary.environment.get("model") or {}
    artifacts = (model.get("artifacts") or {}) if isinstance(model, dict) else {}
    return {
        "artifacts": [
            {"name": name, "sha256": info.get("sha256"), "bytes": info.get("bytes")}
            for name, info in artifacts.items()
            if isinstance(info, dict)
        ]
    }


def model_row(model: Mapping[str, Any]) -> dict[str, Any]:
    """Return the note on the article's pickle file (no measurement)."""
    claim = "The trained model is saved with pickle and loaded by the app."
    listed = "; ".join(f"`{a['name']}` sha256 `{a['sha256']}`" for a in model["artifacts"])
    measured = [
        fact(
            "loading a pickle runs whatever code the file names, so a swapped file is code "
            "execution; this project serves from ONNX and skops files, each verified by "
            "SHA-256 before loading" + (f": {listed}" if listed else ""),
            "environment.model.artifacts",
        )
    ]
    return row("pickle", "The model file", claim, measured, "note", "not measured: a design note.")
