"""The open-loop ladder's figures in summary.json: steps, pooled rungs, the sustainable rate,
and the cost and connection split of the server (per target)."""

from __future__ import annotations

from typing import Literal

from loadtests.common.runfiles._base import RunFile


class CurvePoint(RunFile):
    """One offered rate of the open-loop ladder (Poisson arrivals, latency from the intended
    send time); over rounds: medians, failures summed, valid only if valid in every round."""

    offered_rps: float
    achieved_rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    failures: int = 0  # failed plus dropped requests
    valid: bool = True
    invalid_reason: str | None = None  # of the first invalid round
    rounds: int = 1
    spread_p99_ms: list[float] = []  # [min, max] over rounds


class Step(CurvePoint):
    """One measured step of one round: a rung of round 1's climb or bisection, or a rung fixed
    after round 1 and measured in every round."""

    round: int
    sent: int
    ok: int
    failed: int
    dropped: int
    passed: bool  # on its own: p99 within the bound, nothing failed or dropped
    over: int = 0  # ok answers slower than the bound
    kind: Literal["climb", "bisect", "window", "fixed"] = "climb"
    p99_fit: bool = True  # its send lag below a tenth of its p99: the p99 may be reported
    send_lag_p99_ms: float | None = None
    client_cpu_pct: float | None = None
    client_cpu_us_per_request: float | None = None
    connections_opened: int | None = None
    wall_s: float | None = None  # the step's whole time: settle, lead-in, window, drain
    hdr: str | None = None


class RungRound(RunFile):
    """One rung of one target in one round: the counts LoadGen's rule pools."""

    round: int
    sent: int
    ok: int
    over: int  # ok answers slower than the bound
    failures: int  # failed plus dropped
    p50_ms: float | None = None
    p99_ms: float | None = None
    send_lag_p99_ms: float | None = None
    valid: bool = True  # for the bound's decision: send-lag p99 within a tenth of the bound
    invalid_reason: str | None = None
    hdr: str | None = None


class Rung(RunFile):
    """One offered rate of one target, every round's answers pooled: the decision of MLPerf
    LoadGen's early-stopping rule on the pooled counts, and the pooled percentiles."""

    offered_rps: float
    roles: list[str] = []  # climb, knee window, a pair's rung, the headline rung, recovery
    rounds: list[RungRound] = []
    pooled_rounds: list[int] = []  # the rounds whose answers count (valid, not flagged)
    answers: int = 0
    over: int = 0
    failures: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    p99_early_ms: float | None = None  # LoadGen's early-stopping p99 estimate (conservative)
    decision: Literal["pass", "fail", "undecided"] = "undecided"
    reason: str = ""


class CpuSplit(RunFile):
    """Server CPU per answered request in the wrk phase, split, and connections per request
    (medians over rounds)."""

    user_us: float | None = None
    kernel_us: float | None = None
    connections_per_request: float | None = None  # accepted by the server
    client_connections_per_request: float | None = None  # opened by the client (cross-check)
    rounds: int = 0


class Alone(RunFile):
    """The target started alone after the rounds (nothing else of the run alive): one wrk pass
    of the same script, compared with the run's, and its system calls under load (untimed)."""

    server_pid: int | None = None
    wrk_rps: float | None = None
    run_wrk_rps: float | None = None  # the run's figure: median of the rounds' wrk
    run_wrk_low: float | None = None  # the lowest of the rounds' wrk figures
    run_wrk_high: float | None = None  # the highest
    ratio: float | None = None  # run / alone
    agrees: bool | None = None  # within ALONE_TOLERANCE
    # The server core's CPU calibration just before the standalone passes against the run's
    # median (+0.2: 20 % slower): past DRIFT_LIMIT the machine itself moved since the rounds.
    machine_off: float | None = None
    # How a gap past the tolerance reads (loadtests.bench.gap): the run's median run : alone
    # over every target (the machine's own shift), this target's ratio divided by it, the
    # 95 % prediction interval of one more round, and the cause (loadtests.bench.gap.GapCause).
    machine_shift: float | None = None
    after_shift: float | None = None
    one_more_low: float | None = None
    one_more_high: float | None = None
    gap_cause: Literal["machine", "process", "run", "unknown"] | None = None
    syscalls_per_request: float | None = None
    syscalls_requests: int | None = None
    syscalls_top: dict[str, float] = {}  # per request, the most frequent calls
    note: str | None = None


class Sustainable(RunFile):
    """The highest offered rate whose p99 stayed within the bound with nothing failed or
    dropped (the MLPerf server scenario). Runs since the pooled ladder: the highest rung
    LoadGen's rule passed on every round's answers pooled (``median``), with the 95 % interval
    of resampling rounds; older runs: the median over rounds of each round's own bisection."""

    median: float | None = None
    low: float | None = None
    high: float | None = None
    slo_ms: float
    rounds: int = 0
    values: dict[int, float | None] = {}  # per round (None: not even the first rung)
    at_least: bool = False  # the top rung still passed in some round: a lower bound
