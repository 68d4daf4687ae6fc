"""The one source of "now": UTC, and replaceable so expiry rules are tested without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC; `advance` / `freeze` exist for tests and the benchmarks' seeding."""

    def __init__(self) -> None:
        self._frozen: datetime | None = None
        self._offset = timedelta()

    def now(self) -> datetime:
        """Now, to the millisecond: what a `TIMESTAMP(3)` column holds. A microsecond value
        would be rounded on its way in, so a record's time as returned when it is written
        would differ from the same record read back (DESIGN, "The API document")."""
        base = self._frozen if self._frozen is not None else datetime.now(UTC)
        moment = base + self._offset
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def advance(self, delta: timedelta) -> None:
        self._offset += delta

    def freeze(self, at: datetime | None = None) -> None:
        self._frozen = at or datetime.now(UTC)

    def reset(self) -> None:
        self._frozen = None
        self._offset = timedelta()


clock = Clock()


def utcnow() -> datetime:
    return clock.now()
