"""Rich progress bars for long operations (drawn on stderr, so `--json` output stays clean)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from pe_portal.cli.common import err_console


class RichProgress:
    """One bar per stage; the previous stage is marked complete when the next begins."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def stage(self, description: str, total: float | None = None) -> None:
        self.finish()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: float = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        """Show the current stage as done."""
        if self._task is None:
            return
        task = self._progress.tasks[-1]
        self._progress.update(self._task, total=task.total or 1, completed=task.total or 1)


@contextmanager
def progress_bars() -> Iterator[RichProgress]:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        bars = RichProgress(progress)
        yield bars
        bars.finish()
