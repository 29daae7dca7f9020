"""Progress on the terminal: which target, which phase, and the time left (rich)."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class Reporter:
    """A progress bar measured in planned seconds, plus one log line per finished step."""

    def __init__(self, planned_s: float, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.planned_s = max(planned_s, 1.0)
        self.done_s = 0.0
        self.started = time.monotonic()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}", style="progress.remaining"),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,
        )
        self._task = self._progress.add_task("starting", total=self.planned_s, left="")

    def __enter__(self) -> Reporter:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def step(self, description: str) -> None:
        """Show what runs now."""
        self._progress.update(self._task, description=description)

    def advance(self, planned_s: float) -> None:
        """Count a finished step by the seconds it was planned to take."""
        self.done_s = min(self.planned_s, self.done_s + planned_s)
        elapsed = time.monotonic() - self.started
        # Scale what is left by the pace so far (a loaded machine runs behind the plan).
        pace = min(max(elapsed / self.done_s, 0.5), 3.0) if self.done_s else 1.0
        left = (self.planned_s - self.done_s) * pace
        self._progress.update(self._task, completed=self.done_s, left=f"~{left:.0f} s left")

    def log(self, message: str) -> None:
        """Print one line above the bar."""
        self.console.print(message)
