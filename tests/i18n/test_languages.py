"""Negotiation: a profile's tag or an Accept-Language value, in order, else English."""

from __future__ import annotations

import pytest

from pe_portal.i18n import DEFAULT_LANGUAGE, LANGUAGES, negotiate


def test_languages() -> None:
    assert LANGUAGES == ("en", "fr", "de")
    assert DEFAULT_LANGUAGE == "en"


@pytest.mark.parametrize(
    ("preferences", "expected"),
    [
        (("fr",), "fr"),
        (("fr-CH",), "fr"),
        (("DE",), "de"),
        (("de_AT",), "de"),
        (("en-GB",), "en"),
        (("de-DE,de;q=0.9,en;q=0.8",), "de"),
        (("en;q=0.5, fr;q=0.9, de;q=0.7",), "fr"),  # by q-value, not by position
        (("pt-BR,pt;q=0.9,de;q=0.4",), "de"),  # the first we have
        (("fr;q=0, de",), "de"),  # q=0 means "not this one"
        (("da, en-gb;q=0.8, en;q=0.7",), "en"),
        (("de;q=1.0, fr",), "de"),  # ties keep their order
        (("*",), "en"),
        (("pt-BR",), "en"),
        ((None,), "en"),
        (("",), "en"),
        ((), "en"),
        (("  ",), "en"),
        (("fr;q=abc",), "en"),  # a malformed q-value drops its range
        (("fr;q=nan, de;q=2",), "en"),
        (("<script>",), "en"),
        (("fr-", "de"), "de"),
        (("français",), "en"),
        (("fr-CH;;q=0.9",), "fr"),
        ((None, "de-DE,de;q=0.9"), "de"),  # no profile language: the browser's
        (("pt", "fr-CA,fr;q=0.9"), "fr"),  # profile language we lack: the next preference
        (("de", "fr"), "de"),  # the profile wins over the header
    ],
)
def test_negotiate(preferences: tuple[str | None, ...], expected: str) -> None:
    assert negotiate(*preferences) == expected
