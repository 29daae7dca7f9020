"""One scheduled request and one connection: an asyncio Protocol, no coroutine per request."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, cast

from loadtests.loadgen.openloop._http import parse_response


class Req:
    """One scheduled request; ``outcome`` is set exactly once."""

    __slots__ = ("conn", "deadline", "intended", "measured", "outcome", "sent", "taken")

    def __init__(self, intended: float, measured: bool, deadline: float) -> None:
        self.intended = intended
        self.measured = measured
        self.deadline = deadline
        self.taken = 0.0  # when the client dispatched it
        self.sent = 0.0  # when it went on a connection (write, or connect then write)
        self.conn: Conn | None = None
        self.outcome = ""


class Owner(Protocol):
    """What a connection reports to: the step that owns it."""

    raw: bytes  # the request, built once

    def release(self, conn: Conn) -> None: ...
    def forget(self, conn: Conn) -> None: ...
    def closed(self, conn: Conn) -> None: ...
    def answer(self, req: Req, status: int, body: bytes) -> None: ...
    def finish(self, req: Req, outcome: str, detail: str) -> None: ...


class Conn(asyncio.Protocol):
    """One connection: carries one request at a time, reports each answer to the step."""

    def __init__(self, step: Owner, req: Req | None) -> None:
        self.step = step
        self.req: Req | None = req
        self.spare = req is None  # opened ahead of need (the idle-pool experiment)
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.idle_since = 0.0
        self.is_idle = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = tcp = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        req = self.req
        if self.spare:
            self.spare = False
            self.step.release(self)
            return
        if req is None or req.outcome:  # it timed out while we were connecting
            self.req = None
            tcp.close()
            return
        tcp.write(self.step.raw)

    def send(self, req: Req) -> None:
        """Write req on this (idle, open) connection."""
        assert self.transport is not None
        self.req = req
        req.conn = self
        req.sent = time.monotonic()
        self.transport.write(self.step.raw)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        req = self.req
        if req is None:  # bytes nobody asked for: the connection cannot be trusted
            self.buf = b""
            self.abort()
            return
        try:
            parsed = parse_response(buf)
        except ValueError:
            self.buf = b""
            self.req = None
            self.step.finish(req, "failed", "unparsable answer")
            self.abort()
            return
        if parsed is None:
            self.buf = buf
            return
        used, status, body, keep = parsed
        if used < 0:  # the body runs to the close
            self.buf = buf
            return
        self.buf = b""
        self.req = None
        self.step.answer(req, status, body)
        if keep and used == len(buf) and not self.lost:
            self.step.release(self)
        else:
            self.lost = True
            self.step.forget(self)
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        req, buf = self.req, self.buf
        self.req, self.buf = None, b""
        if req is not None and not req.outcome:
            parsed = None
            if buf:
                try:
                    parsed = parse_response(buf)
                except ValueError:
                    parsed = None
            if parsed is not None and parsed[0] < 0:
                start = buf.find(b"\r\n\r\n") + 4
                self.step.answer(req, parsed[1], buf[start:])
            elif exc is not None:
                self.step.finish(req, "failed", type(exc).__name__)
            else:
                self.step.finish(req, "failed", "closed before the answer")
        self.lost = True
        self.step.closed(self)

    def abort(self) -> None:
        """Drop the connection at once: it can no longer be trusted."""
        self.lost = True
        self.step.forget(self)
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close the connection, which carries no request."""
        self.lost = True
        if self.transport is not None:
            self.transport.close()
