"""Run commands and time steps, for the compose test's modules."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

_prefix = "compose-test:"


class StepError(RuntimeError):
    """A step of the compose test failed; the message says which and why."""


def say(message: str) -> None:
    """Print one progress line, flushed (pytest -s and make show it as it happens)."""
    print(f"{_prefix} {message}", file=sys.stderr, flush=True)


def set_prefix(prefix: str) -> None:
    """Start every later progress line with prefix (the command the user typed)."""
    global _prefix
    _prefix = prefix


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    """Make SIGTERM end the program as Ctrl-C does: through the same clean-up."""
    signal.signal(signal.SIGTERM, _interrupt)


def run(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
    check: bool = True,
    capture: bool = True,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv (bounded by timeout); raise StepError with its output if it fails."""
    args = [str(arg) for arg in argv]
    try:
        result = subprocess.run(
            args,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            timeout=timeout,
            capture_output=capture,
            text=stdin is None,
            input=stdin,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StepError(f"`{shlex.join(args)}` took more than {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise StepError(f"`{args[0]}` is not installed") from exc
    if isinstance(result.stdout, bytes):  # binary input: decode the output for messages
        result = subprocess.CompletedProcess(
            result.args,
            result.returncode,
            result.stdout.decode(errors="replace"),
            (result.stderr or b"").decode(errors="replace"),
        )
    if check and result.returncode != 0:
        output = ((result.stdout or "") + (result.stderr or "")).strip()[-3000:]
        raise StepError(f"`{shlex.join(args)}` exited {result.returncode}:\n{output}")
    return result


def sudo() -> list[str]:
    """Return the prefix that runs a command as root (nothing when already root)."""
    return [] if os.geteuid() == 0 else ["sudo"]


class Timings:
    """Wall-clock time of each step, printed as it ends and summed up at the end."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float, str]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time the block; anything it appends to the yielded list becomes the line's note."""
        notes: list[str] = []
        start = time.monotonic()
        status = "failed"
        try:
            yield notes
            status = ""
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            elapsed = time.monotonic() - start
            note = "; ".join(filter(None, [status, *notes]))
            self.steps.append((name, elapsed, note))
            say(f"{name:<8} {elapsed:6.1f} s" + (f"  ({note})" if note else ""))

    def summary(self) -> str:
        """Return one line with every step's time and the total."""
        parts = [f"{name} {elapsed:.1f}s" for name, elapsed, _ in self.steps]
        total = sum(elapsed for _, elapsed, _ in self.steps)
        return f"timings: {', '.join(parts)}; total {total:.1f}s"
