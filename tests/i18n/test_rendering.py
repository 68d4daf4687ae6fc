"""Template environments: translated, escaped as HTML except plain text, cached, and times."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jinja2
import pytest

from pe_portal.i18n import format_datetime, resolve_zone, templates

WINTER = datetime(2025, 1, 9, 12, 30, tzinfo=UTC)


def test_environments_are_cached_per_package_and_language() -> None:
    assert templates("pe_portal.mail", "fr") is templates("pe_portal.mail", "fr")
    assert templates("pe_portal.mail", "fr") is not templates("pe_portal.mail", "de")


def test_trans_blocks_are_translated_and_their_values_escaped_in_html() -> None:
    environment = templates("pe_portal.mail", "fr")
    page = environment.from_string(  # strings are HTML, as templates not named .txt
        "{% trans at=when %}The password of your account was changed on {{ at }}.{% endtrans %}"
    )

    assert page.render(when="<b>") == "Le mot de passe de votre compte a été modifié le &lt;b&gt;."


def test_the_environment_is_strict() -> None:
    environment = templates("pe_portal.mail", "en")

    assert environment.undefined is jinja2.StrictUndefined
    assert environment.globals["lang"] == "en"
    with pytest.raises(jinja2.UndefinedError):
        environment.from_string("{{ missing }}").render()


@pytest.mark.parametrize("language", ["en", "fr", "de"])
@pytest.mark.parametrize(
    ("zone", "when", "shown"),
    [
        ("Europe/Paris", WINTER, "2025-01-09 13:30 Europe/Paris (UTC+01:00)"),
        (
            "Europe/Zurich",
            datetime(2025, 7, 9, 12, 30, tzinfo=UTC).replace(tzinfo=None),  # naive: UTC
            "2025-07-09 14:30 Europe/Zurich (UTC+02:00)",
        ),
        ("America/New_York", WINTER, "2025-01-09 07:30 America/New_York (UTC-05:00)"),
        ("Asia/Kolkata", WINTER, "2025-01-09 18:00 Asia/Kolkata (UTC+05:30)"),
        ("UTC", WINTER, "2025-01-09 12:30 UTC"),
    ],
)
def test_format_datetime(zone: str, when: datetime, shown: str, language: str) -> None:
    assert format_datetime(when, zone=ZoneInfo(zone), language=language) == shown


def test_format_datetime_refuses_an_unsupported_language() -> None:
    with pytest.raises(ValueError, match="pt"):
        format_datetime(WINTER, zone=ZoneInfo("UTC"), language="pt")


@pytest.mark.parametrize(
    ("name", "key"),
    [("Europe/Paris", "Europe/Paris"), (None, "UTC"), ("", "UTC"), ("Nope/x", "UTC")],
)
def test_resolve_zone(name: str | None, key: str) -> None:
    assert resolve_zone(name).key == key
