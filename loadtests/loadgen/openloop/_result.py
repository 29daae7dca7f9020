"""What one step reports, and whether the generator kept up while it ran."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StepResult:
    """One step of offered load: counts, latency figures (ms) and the generator's own cost."""

    offered_rps: float
    duration_s: float
    sent: int  # requests scheduled in the measured window (each ends as one of the three)
    ok: int
    failed: int  # a wrong answer or an error (refused, reset, closed before answering)
    dropped: int  # no answer within timeout_s of the intended time, or never got a connection
    achieved_rps: float  # ok answers per second of the window
    # From the intended send time to the last byte (ok answers only).
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    # From the actual write on a connection (or the connect) to the last byte.
    service_p50_ms: float | None
    service_p99_ms: float | None
    send_lag_p99_ms: float | None  # when the client took the request up, minus intended
    wait_p99_ms: float | None  # intended to actual send: lag plus waiting for a connection
    client_cpu_us_per_request: float | None
    client_cpu_percent: float  # of one core, the whole process, over the sending window
    connections_opened: int
    over: int = 0  # ok answers slower than the bound the step was given (bound_s)
    errors: dict[str, int] = field(default_factory=dict)
    latency_hdr: str = ""  # HdrHistogram (us), compressed base64
    service_hdr: str = ""
    balanced: bool = True  # sent == ok + failed + dropped and no request ended twice
    valid: bool = True  # set by the caller from the generator's CPU and send lag

    def as_dict(self) -> dict[str, Any]:
        """Return the result as plain data (for JSON)."""
        return asdict(self)


Measure = Callable[[float], StepResult]
