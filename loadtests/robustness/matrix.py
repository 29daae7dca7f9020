"""The invalid-input matrix: every catalogue case against every target, over real HTTP.

``python -m loadtests.robustness.matrix --targets flask,fastapi --out results/RUN`` starts each
target with the exact command of the table (pinned to core 0 where possible), sends
each case of ``loadtests.robustness.cases`` on a fresh connection, and records the status, whether
the body is the contract's error (naming the field), its size, the latency, how much of
the body had been sent when the answer came, and whether the server still answers
``/health`` with the same worker PIDs afterwards. It writes ``invalid_matrix.csv`` and
``invalid_matrix.json`` into the run folder. The bench runner calls ``run_matrix``.

The seed target (the article's unvalidated handler) is held to the same checks; its
failures are kept and labelled as the article's behaviour, never hidden.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.common.net import health_ok, loopback, wait_until
from loadtests.common.procs import can_pin, tree
from loadtests.common.runfiles import (
    MatrixFile,
    MatrixMeta,
    MatrixRow,
    MatrixTargetSummary,
    write_matrix_files,
)
from loadtests.common.servers import launch
from loadtests.robustness.cases import CASES, MAX_ERROR_BODY_BYTES, Case
from loadtests.targets import DEFAULT_WORKERS, TARGETS, get_target
from shared_model import FIELD_NAMES

REQUEST_TIMEOUT_S = 10.0
HEALTH_TIMEOUT_S = 2.0
CHUNK_BYTES = 64 * 1024
SEED_LABEL = "article's behaviour (unvalidated seed handler)"
CONTRACT_LABEL = "contract"
TRACEBACK_MARKERS = (b"Traceback (most recent call last)", b'File "/', b"werkzeug.debug")
PREDICTION_KEYS = frozenset({"prediction", "label", "probability"})


@dataclass(frozen=True)
class Exchange:
    """What came back for one request: status (None if no answer), body, timings."""

    status: int | None
    body: bytes
    latency_s: float
    bytes_sent: int
    error: str = ""
    allow: str | None = None  # the Allow header of the answer


def send(host: str, port: int, case: Case, timeout: float = REQUEST_TIMEOUT_S) -> Exchange:
    """Send the case's exact request on a fresh connection; stop sending once an answer arrives.

    The body goes out in chunks; before each one the socket is checked for an answer, so a
    server that refuses an over-long body early is seen doing so (``bytes_sent`` < size).
    """
    start = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    sent = 0
    try:
        conn.putrequest(case.method, case.path, skip_accept_encoding=True)
        if case.content_type is not None:
            conn.putheader("Content-Type", case.content_type)
        conn.putheader("Content-Length", str(len(case.body)))
        conn.putheader("Connection", "close")
        conn.endheaders()
        sock = conn.sock
        assert sock is not None
        view = memoryview(case.body)
        deadline = start + timeout
        while sent < len(view):
            readable, writable, _ = select.select(
                [sock], [sock], [], deadline - time.perf_counter()
            )
            if readable or not writable:
                break  # an answer (or a close) before the whole body went out, or timeout
            try:
                sent += sock.send(view[sent : sent + CHUNK_BYTES])
            except (BrokenPipeError, ConnectionResetError):
                break
        response = conn.getresponse()
        body = response.read()
        allow = response.getheader("Allow")
        return Exchange(response.status, body, time.perf_counter() - start, sent, allow=allow)
    except (OSError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
        return Exchange(None, b"", time.perf_counter() - start, sent, error)
    finally:
        conn.close()


def worker_pids(server_pid: int | None) -> list[int]:
    """Return the PIDs serving requests: the server's children, or the server itself."""
    if server_pid is None:
        return []
    procs = tree(server_pid)
    return sorted(p.pid for p in procs[1:]) or [p.pid for p in procs[:1]]


def is_error_body(data: Any) -> bool:
    """Tell whether a parsed body is the contract's error: {"detail": [{loc, msg, type}...]}."""
    items = data.get("detail") if isinstance(data, dict) else None
    return (
        isinstance(items, list)
        and len(items) > 0
        and all(
            isinstance(i, dict)
            and isinstance(i.get("loc"), list)
            and isinstance(i.get("msg"), str)
            and isinstance(i.get("type"), str)
            for i in items
        )
    )


def inspect_body(case: Case, status: int | None, body: bytes) -> dict[str, Any]:
    """Check one answer against the contract: JSON, its shape, the field named, no traceback."""
    try:
        data, json_body = json.loads(body), True
    except ValueError:  # also an empty body
        data, json_body = None, False
    if status == 200:
        shape = isinstance(data, dict) and PREDICTION_KEYS <= set(data)
        named = True
    else:
        shape = is_error_body(data)
        locs = {i["loc"][-1] for i in data["detail"] if i["loc"]} if shape else set()
        named = all(f in locs for f in case.named_fields)
    return {
        "json_body": json_body,
        "contract_shape": shape,
        "names_field": named,
        "traceback": any(marker in body for marker in TRACEBACK_MARKERS),
        "response_bytes": len(body),
    }


def problems(case: Case, row: dict[str, Any]) -> list[str]:
    """List how one row breaks the contract (empty: it holds)."""
    found = []
    if row["status"] != case.expected_status:
        found.append(f"status {row['status']} (expected {case.expected_status})")
    if row["status"] is not None:
        if not row["contract_shape"]:
            found.append("body not in the contract's shape")
        if not row["names_field"]:
            found.append(f"field {','.join(case.named_fields)} not named")
        if row["status"] != 200 and row["response_bytes"] >= MAX_ERROR_BODY_BYTES:
            found.append(f"error body {row['response_bytes']} B >= {MAX_ERROR_BODY_BYTES} B")
    if case.allow is not None and row["status"] == 405:
        offered = {m.strip().upper() for m in (row["allow"] or "").split(",") if m.strip()}
        wanted = {m.strip().upper() for m in case.allow.split(",")}
        if not wanted <= offered:
            found.append(f"Allow {row['allow'] or '(none)'} (expected {case.allow})")
    if row["traceback"]:
        found.append("traceback in body")
    if not row["health_after"]:
        found.append("no /health answer afterwards")
    if row["worker_restarted"]:
        found.append("worker restarted")
    return found


def run_case(
    host: str, port: int, target_name: str, server_pid: int | None, case: Case, *, seed: bool
) -> MatrixRow:
    """Send one case, then check /health and the worker PIDs; return the matrix row."""
    before = worker_pids(server_pid)
    exchange = send(host, port, case)
    base_url = f"http://{host}:{port}"
    healthy = health_ok(base_url)
    after = worker_pids(server_pid)
    row: dict[str, Any] = {
        "target": target_name,
        "label": SEED_LABEL if seed else CONTRACT_LABEL,
        "case": case.name,
        "group": case.group,
        "field": case.field or "",
        "method": f"{case.method} {case.path}",
        "content_type": case.content_type if case.content_type is not None else "(none)",
        "request_bytes": len(case.body),
        "expected_status": case.expected_status,
        "status": exchange.status,
        "status_class": f"{exchange.status // 100}xx" if exchange.status else "no answer",
        "latency_ms": round(exchange.latency_s * 1000, 3),
        **inspect_body(case, exchange.status, exchange.body),
        "bytes_sent": exchange.bytes_sent,
        "answered_early": exchange.bytes_sent < len(case.body),
        "error": exchange.error,
        "allow": exchange.allow or "",
        "health_after": healthy,
        "workers_before": " ".join(map(str, before)),
        "workers_after": " ".join(map(str, after)),
        "worker_restarted": server_pid is not None and before != after,
    }
    found = problems(case, row)
    row["problems"] = "; ".join(found)
    row["verdict"] = "pass" if not found else ("article" if seed else "fail")
    result = MatrixRow.model_validate(row)
    if not healthy:
        wait_until(lambda: health_ok(base_url), 15.0)  # the next case meets a live server
    return result


def run_matrix(
    base_url: str,
    target_name: str,
    server_pid: int | None,
    cases: Iterable[Case] = CASES,
) -> list[MatrixRow]:
    """Send every case to one running target (on loopback) and return one row per case."""
    host, port = loopback(base_url)
    seed = target_name in TARGETS and get_target(target_name).handler == "seed"
    return [run_case(host, port, target_name, server_pid, case, seed=seed) for case in cases]


def summarize(rows: Sequence[MatrixRow]) -> dict[str, MatrixTargetSummary]:
    """Count, per target, the status classes, the verdicts and the lost workers."""
    by_target: dict[str, list[MatrixRow]] = {}
    for row in rows:
        by_target.setdefault(row.target, []).append(row)
    return {
        name: MatrixTargetSummary(
            label=group[0].label,
            cases=len(group),
            status_class=dict(sorted(Counter(r.status_class for r in group).items())),
            verdict=dict(sorted(Counter(r.verdict for r in group).items())),
            worker_restarts=sum(r.worker_restarted for r in group),
            health_failures=sum(not r.health_after for r in group),
            failed_cases=[f"{r.case}: {r.problems}" for r in group if r.verdict != "pass"],
        )
        for name, group in by_target.items()
    }


def write_matrix(rows: Sequence[MatrixRow], out: Path, meta: MatrixMeta) -> list[Path]:
    """Write the rows as invalid_matrix.csv and (with the summary) invalid_matrix.json."""
    return write_matrix_files(out, MatrixFile(meta=meta, summary=summarize(rows), rows=list(rows)))


def format_summary(summary: dict[str, MatrixTargetSummary]) -> str:
    """Render the per-target counts as a small text table."""
    lines = [f"{'target':16} {'cases':>5}  status classes{'':22} verdicts"]
    for name, s in summary.items():
        classes = ", ".join(f"{k}: {v}" for k, v in s.status_class.items())
        verdicts = ", ".join(f"{k}: {v}" for k, v in s.verdict.items())
        lines.append(f"{name:16} {s.cases:>5}  {classes:36} {verdicts}")
        if s.label != CONTRACT_LABEL:
            lines.append(f"{'':24}({s.label})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the matrix against the chosen targets and write it into the run folder."""
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.robustness.matrix",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help="comma-separated targets of loadtests/targets.py (default: all)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder (default results/invalid-<time>)"
    )
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="server workers")
    parser.add_argument(
        "--cores",
        default="0",
        help="cores the server is pinned to ('' for none; default %(default)s)",
    )
    args = parser.parse_args(argv)
    targets = [get_target(name) for name in args.targets.split(",") if name]
    chosen = set(filter(None, args.cases.split(",")))
    cases = [c for c in CASES if not chosen or c.name in chosen]
    if chosen - {c.name for c in cases}:
        parser.error(f"unknown cases: {', '.join(sorted(chosen - {c.name for c in cases}))}")
    cores = [int(c) for c in args.cores.split(",") if c] or None
    if cores and can_pin() and len(os.sched_getaffinity(0)) > len(cores):
        os.sched_setaffinity(0, set(os.sched_getaffinity(0)) - set(cores))  # client elsewhere
    out = args.out or Path("results") / time.strftime("invalid-%Y%m%d-%H%M%S")
    rows: list[MatrixRow] = []
    for target in targets:
        proc, url = launch(
            target,
            workers=args.workers,
            cores=cores,
            log_path=out / "logs" / f"invalid-{target.name}.log",
        )
        try:
            print(f"{target.name}: {len(cases)} cases -> {url} (pid {proc.pid})", flush=True)
            rows += run_matrix(url, target.name, proc.pid, cases)
        finally:
            proc.stop()
    meta = MatrixMeta(
        time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        targets={t.name: t.command("127.0.0.1", 0, args.workers) for t in targets},
        workers=args.workers,
        cores=cores,
        cases=len(cases),
        fields=list(FIELD_NAMES),
        max_error_body_bytes=MAX_ERROR_BODY_BYTES,
    )
    paths = write_matrix(rows, out, meta)
    print(format_summary(summarize(rows)))
    print("wrote", *map(str, paths))
    failed = [r for r in rows if r.verdict == "fail"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
