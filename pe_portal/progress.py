"""How long operations report progress: the CLI draws rich bars, tests and the scheduler draw none."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def stage(self, description: str, total: float | None = None) -> None:
        """Start a new step of `total` units (None: unknown)."""

    def advance(self, amount: float = 1) -> None:
        """Record `amount` units of the current step as done."""


class NoProgress:
    """Reports nothing."""

    def stage(self, description: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float = 1) -> None:
        return None
