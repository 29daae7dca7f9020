"""The schedule's clock: a Linux timerfd on CLOCK_MONOTONIC, else the event loop's own timers.

A timerfd wakes the loop with microsecond precision where the loop's timers have millisecond
precision; both read time.monotonic's clock.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import time
from collections.abc import Callable


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


class _TimerFd:
    """A one-shot absolute timer whose expiry makes a file descriptor readable."""

    CLOCK_MONOTONIC = 1
    TFD_NONBLOCK = 0o4000
    TFD_CLOEXEC = 0o2000000
    TFD_TIMER_ABSTIME = 1

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.timerfd_create(self.CLOCK_MONOTONIC, self.TFD_NONBLOCK | self.TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create")
        self.fd: int = fd
        self._spec = _Itimerspec()
        self._ref = ctypes.byref(self._spec)
        self._settime = self._libc.timerfd_settime

    def arm(self, when: float) -> None:
        """Fire at ``when`` (time.monotonic seconds); a past time fires at once."""
        ns = max(int(when * 1e9), 1)
        self._spec.it_value.tv_sec, self._spec.it_value.tv_nsec = divmod(ns, 1_000_000_000)
        self._settime(self.fd, self.TFD_TIMER_ABSTIME, self._ref, None)

    def clear(self) -> None:
        """Consume the expiry so the descriptor is no longer readable."""
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Release the descriptor."""
        os.close(self.fd)


def _timerfd() -> _TimerFd | None:
    try:
        return _TimerFd()
    except (OSError, AttributeError):
        return None


class Clock:
    """Call ``callback`` once per arm, at a time.monotonic time: timerfd, else loop.call_at."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._timer = _timerfd()
        self._handle: asyncio.TimerHandle | None = None
        self._reading = False

    def start(self) -> None:
        """Watch the timer's descriptor (nothing to do for the loop's timers)."""
        if self._timer is not None:
            self._loop.add_reader(self._timer.fd, self._fire)
            self._reading = True

    def arm(self, when: float) -> None:
        """Call back at ``when`` (time.monotonic seconds); a past time calls back at once."""
        if self._timer is not None:
            self._timer.arm(when)
        else:
            self._handle = self._loop.call_at(
                self._loop.time() + (when - time.monotonic()), self._callback
            )

    def _fire(self) -> None:
        assert self._timer is not None
        self._timer.clear()
        self._callback()

    def stop(self) -> None:
        """Stop watching the timer's descriptor."""
        if self._reading:
            assert self._timer is not None
            self._loop.remove_reader(self._timer.fd)
            self._reading = False

    def close(self) -> None:
        """Cancel any pending call and release the timer."""
        if self._handle is not None:
            self._handle.cancel()
        self.stop()
        if self._timer is not None:
            self._timer.close()
