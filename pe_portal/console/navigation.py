"""Where a page sends the visitor next: only ever a path of this site."""

from __future__ import annotations

HOME = "/account"
_MAX_NEXT = 512


def safe_next(candidate: str | None) -> str:
    """`candidate` when it is a local path (no scheme, no host, no `//` or `\\` tricks); else home."""
    if not candidate or len(candidate) > _MAX_NEXT:
        return HOME
    if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return HOME
    if any(character in candidate for character in "\\\r\n\t") or ":" in candidate.split("?")[0]:
        return HOME
    return candidate
