"""What one load phase sends and expects: plain data shared by the runner and Locust.

The runner builds a ``PhaseConfig`` and hands it to the Locust master, which passes it
to every worker. This module imports neither Locust nor gevent, so the runner can use
it without being monkey-patched.
"""

from __future__ import annotations

import base64
from typing import Literal, NotRequired, TypedDict

from loadtests.robustness.cases import CASES, VALID, Case

PhaseKind = Literal["closed", "fixed"]
USER_CLASSES = ("PredictUser", "HealthUser", "InvalidMixUser", "FixedRatePredictUser")


class RequestSpec(TypedDict):
    """One request a user sends, and the exact answer that counts as a success."""

    name: str
    method: str
    path: str
    body_b64: str | None
    content_type: str | None
    expected_status: int
    expected_body_b64: str | None  # None: the status alone decides
    bad: bool  # one of the invalid bodies of the mix


class PhaseConfig(TypedDict):
    """One measured phase: who sends what, for how long, at which rate."""

    phase: str
    kind: PhaseKind
    user_class: str
    users: int
    warmup_s: float
    duration_s: float
    requests: list[RequestSpec]  # requests[0] is the valid request
    bad_fraction: float  # share of requests taken from the bad ones (invalid mix)
    rate: float  # total requests per second over all workers (fixed-rate phases)
    drain_s: float  # how long in-flight measured requests may still complete
    t0: NotRequired[float]  # wall-clock start of the phase, set by the master
    worker_index: NotRequired[int]  # set by the master for each worker
    worker_count: NotRequired[int]


class LocustResult(TypedDict):
    """What one Locust phase measured, every worker's figures added up (the driver's
    ``result`` event): counts, exact histograms (HdrHistogram, base64) and the window."""

    event: Literal["result"]
    phase: str
    workers: int
    window: list[float]  # wall-clock start and end of the measured window (epoch s)
    by_status: dict[str, int]
    by_case: dict[str, dict[str, int]]
    errors: dict[str, int]
    completed: int
    requests: int
    failures: int
    incomplete: int
    scheduled: int
    latency: str | None  # from the intended send (fixed rate) or the send (closed loop)
    service: str | None
    send_lag: str | None


def b64(data: bytes | None) -> str | None:
    """Return data as base64 text (None stays None)."""
    return None if data is None else base64.b64encode(data).decode("ascii")


def unb64(text: str | None) -> bytes | None:
    """Return the bytes of base64 text (None stays None)."""
    return None if text is None else base64.b64decode(text)


def case_spec(case: Case, expected_body: bytes | None = None, *, bad: bool = False) -> RequestSpec:
    """Return the request of one catalogue case (its method and path; POST /predict mostly)."""
    return RequestSpec(
        name=case.name,
        method=case.method,
        path=case.path,
        body_b64=b64(case.body),
        content_type=case.content_type,
        expected_status=case.expected_status,
        expected_body_b64=b64(expected_body),
        bad=bad,
    )


def predict_spec(expected_body: bytes | None) -> RequestSpec:
    """Return the valid example sent to POST /predict, expecting exactly expected_body."""
    return case_spec(VALID, expected_body)


def health_spec(expected_body: bytes | None) -> RequestSpec:
    """Return GET /health, expecting exactly expected_body."""
    return RequestSpec(
        name="health",
        method="GET",
        path="/health",
        body_b64=None,
        content_type=None,
        expected_status=200,
        expected_body_b64=b64(expected_body),
        bad=False,
    )


def mix_specs(expected_body: bytes | None) -> list[RequestSpec]:
    """Return the valid example followed by every catalogue case cheap enough for the mix."""
    return [predict_spec(expected_body)] + [case_spec(c, bad=True) for c in CASES if c.in_mix]


def phase_config(
    phase: str,
    user_class: str,
    users: int,
    requests: list[RequestSpec],
    *,
    warmup_s: float,
    duration_s: float,
    kind: PhaseKind = "closed",
    bad_fraction: float = 0.0,
    rate: float = 0.0,
    drain_s: float = 0.0,
) -> PhaseConfig:
    """Return a phase configuration (checked: known user class, positive users and times)."""
    if user_class not in USER_CLASSES:
        raise ValueError(f"unknown user class {user_class!r}")
    if users < 1 or duration_s <= 0 or warmup_s < 0:
        raise ValueError("a phase needs at least one user and a positive duration")
    return PhaseConfig(
        phase=phase,
        kind=kind,
        user_class=user_class,
        users=users,
        warmup_s=warmup_s,
        duration_s=duration_s,
        requests=requests,
        bad_fraction=bad_fraction,
        rate=rate,
        drain_s=drain_s,
    )
