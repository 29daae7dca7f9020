"""What each target's server spends per request, what a pair's difference is made of, and how
the run's figures compare with each target measured alone.

The split comes from the wrk phases (user and kernel CPU of the server's process tree,
connections the server accepted per request: medians over rounds), the system calls from
one untimed strace pass on each target alone after the rounds. Which part of a pair's
difference dominates is read off these figures.
"""

from __future__ import annotations

from typing import Any

from loadtests.bench.gap import Gap, read_run
from loadtests.common.runfiles import TargetSummary
from loadtests.report.format import fmt
from loadtests.report.load import Data, Run

DOMINANT = 0.6  # a part above this share of a difference "makes" it


def _split(target: Data) -> Data:
    return target.get("cpu_split") or {}


def _alone(target: Data) -> Data:
    return target.get("alone") or {}


def cost_rows(run: Run) -> list[dict[str, Any]]:
    """Return per target: CPU per request (user, kernel), connections and system calls."""
    rows = []
    for name, target in run.targets.items():
        split, alone = _split(target), _alone(target)
        if not split and not alone:
            continue
        user, kernel = split.get("user_us"), split.get("kernel_us")
        top = alone.get("syscalls_top") or {}
        rows.append(
            {
                "name": name,
                "label": target.get("label") or name,
                "user_us": user,
                "kernel_us": kernel,
                "cpu_us": user + kernel if user is not None and kernel is not None else None,
                "kernel_share": kernel / (user + kernel) if user and kernel else None,
                "connections": split.get("connections_per_request"),
                "client_connections": split.get("client_connections_per_request"),
                "syscalls": alone.get("syscalls_per_request"),
                "top": ", ".join(f"{k} {v:g}" for k, v in list(top.items())[:4]),
            }
        )
    return rows


def cost_sentence(run: Run, pair_name: str = "default") -> str | None:
    """Return one sentence naming what a pair's difference in CPU per request is made of."""
    pair = next((p for p in run.pairs if p.name == pair_name), None)
    if pair is None:
        return None
    rows = {r["name"]: r for r in cost_rows(run)}
    a, b = rows.get(pair.numerator), rows.get(pair.denominator)
    if not a or not b or a["cpu_us"] is None or b["cpu_us"] is None:
        return None
    heavy, light = (a, b) if a["cpu_us"] >= b["cpu_us"] else (b, a)
    diff = heavy["cpu_us"] - light["cpu_us"]
    user = heavy["user_us"] - light["user_us"]
    kernel = heavy["kernel_us"] - light["kernel_us"]
    if diff <= 0:
        return None
    share = user / diff
    if share >= DOMINANT:
        made_of = f"mostly user time ({fmt(user, 'us')} µs: code running in the server's process)"
    elif share <= 1 - DOMINANT:
        made_of = f"mostly kernel time ({fmt(kernel, 'us')} µs: system calls, sockets, scheduling)"
    else:
        made_of = f"user ({fmt(user, 'us')} µs) and kernel time ({fmt(kernel, 'us')} µs) alike"
    text = (
        f"{heavy['name']} spends {fmt(heavy['cpu_us'], 'us')} µs of server CPU per request "
        f"against {light['name']}'s {fmt(light['cpu_us'], 'us')} "
        f"({fmt(heavy['cpu_us'] / light['cpu_us'], 'ratio')}); the {fmt(diff, 'us')} µs "
        f"difference is {made_of}"
    )
    extras = []
    if heavy["connections"] is not None and light["connections"] is not None:
        extras.append(
            f"{heavy['name']} accepts {heavy['connections']:.2f} connections a request against "
            f"{light['connections']:.2f}"
        )
    if heavy["syscalls"] and light["syscalls"]:
        extras.append(
            f"makes {heavy['syscalls']:.1f} system calls a request against {light['syscalls']:.1f}"
        )
    if extras:
        text += "; " + " and ".join(extras)
    return text + "."


GAP_WORDS = {
    "machine": "every target moved with it: the machine",
    "process": "within one more round's spread",
    "run": "outside one more round's spread: the run moves it",
    "unknown": "too few rounds to tell one more process from the run",
}


def _gaps(run: Run) -> tuple[float | None, dict[str, Gap]]:
    """Return the run's machine shift and each standalone gap's reading (the run's own rule)."""
    typed = {n: TargetSummary.model_validate(t) for n, t in run.targets.items()}
    return read_run({n: (t.alone, t.rounds) for n, t in typed.items()})


def alone_shift(run: Run) -> float | None:
    """Return the run's median run : alone over its targets (the machine's own shift)."""
    return _gaps(run)[0]


def alone_rows(run: Run) -> list[dict[str, Any]]:
    """Return per target the run's wrk figure beside wrk against the target alone, and how a
    gap past the tolerance reads (``loadtests.bench.gap``, the rule the run warned by; for
    runs made before it, read here from their stored figures)."""
    _, gaps = _gaps(run)
    rows = []
    for name, target in run.targets.items():
        alone = _alone(target)
        if alone.get("wrk_rps") is None:
            continue
        gap = gaps.get(name)
        rows.append(
            {
                "name": name,
                "run": alone.get("run_wrk_rps"),
                "alone": alone.get("wrk_rps"),
                "low": alone.get("run_wrk_low"),
                "high": alone.get("run_wrk_high"),
                "ratio": alone.get("ratio"),
                "after_shift": gap.after_shift if gap else None,
                "agrees": alone.get("agrees"),
                "why": GAP_WORDS[gap.cause] if gap and alone.get("agrees") is False else "",
            }
        )
    return rows
