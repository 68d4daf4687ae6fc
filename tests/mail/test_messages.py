"""Rendering: both parts, links, language fallback, the recipient's timezone, escaping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jinja2
import pytest

from pe_portal.config import Settings
from pe_portal.mail.messages import render
from tests.smtp import html_of, link, text_of

WINTER = datetime(2025, 1, 9, 12, 30, tzinfo=UTC)
SUMMER = datetime(2025, 7, 9, 12, 30, tzinfo=UTC)
LANGUAGES = ["en", "fr", "de"]
CONTEXTS: dict[str, tuple[dict[str, Any], str]] = {
    "verify_email": ({"token": "t0k.en", "expires_at": WINTER}, "/verify-email"),
    "password_reset": ({"token": "t0k.en", "expires_at": WINTER}, "/reset-password"),
    "new_device_login": (
        {"user_agent": "Firefox", "ip_address": "203.0.113.9", "at": WINTER},
        "/account/sessions",
    ),
    "password_changed": ({"at": WINTER}, "/account/sessions"),
    "token_reuse": ({"at": WINTER}, "/account/sessions"),
    "mfa_factor_changed": (
        {"at": WINTER, "added": True, "kind": "TOTP", "name": "Phone", "by_operator": False},
        "/account/security",
    ),
    "recovery_code_used": ({"at": WINTER, "remaining": 9}, "/account/security"),
}


def _render(settings: Settings, template: str, **kwargs: Any) -> Any:
    context, _ = CONTEXTS[template]
    arguments: dict[str, Any] = {
        "to": "ann@example.com",
        "language": "en",
        "timezone": "UTC",
        "context": context,
    }
    return render(template, settings=settings, **{**arguments, **kwargs})


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_every_template_renders_text_and_html_with_its_link(
    mail_settings: Settings, template: str, language: str
) -> None:
    message = _render(mail_settings, template, language=language)
    _, path = CONTEXTS[template]

    assert message.get_content_type() == "multipart/alternative"
    assert message["From"] == "Investor Portal <no-reply@portal.example>"
    assert message["To"] == "ann@example.com"
    assert message["Subject"]
    assert message["Content-Language"] == language
    assert link(message, path).startswith(f"https://portal.example{path}")
    assert f"https://portal.example{path}" in html_of(message)
    assert "2025-01-09 12:30 UTC" in text_of(message)


def test_token_links_carry_the_token_url_encoded(mail_settings: Settings) -> None:
    message = _render(
        mail_settings, "password_reset", context={"token": "a+b/c=", "expires_at": WINTER}
    )

    url = link(message, "/reset-password")
    assert url.startswith("https://portal.example/reset-password?token=")
    assert parse_qs(urlsplit(url).query)["token"] == ["a+b/c="]


@pytest.mark.parametrize(
    ("timezone", "when", "shown"),
    [
        ("Europe/Paris", WINTER, "2025-01-09 13:30 Europe/Paris (UTC+01:00)"),
        ("Europe/Paris", SUMMER, "2025-07-09 14:30 Europe/Paris (UTC+02:00)"),
        ("America/New_York", WINTER, "2025-01-09 07:30 America/New_York (UTC-05:00)"),
        ("UTC", WINTER, "2025-01-09 12:30 UTC"),
        (None, WINTER, "2025-01-09 12:30 UTC"),
        ("Mars/Olympus_Mons", WINTER, "2025-01-09 12:30 UTC"),
    ],
)
def test_times_are_shown_in_the_recipients_zone_with_its_name(
    mail_settings: Settings, timezone: str | None, when: datetime, shown: str
) -> None:
    message = _render(
        mail_settings,
        "password_reset",
        timezone=timezone,
        context={"token": "t", "expires_at": when},
    )

    assert shown in text_of(message)
    assert shown in html_of(message)


def test_naive_database_timestamps_are_read_as_utc(mail_settings: Settings) -> None:
    naive = WINTER.replace(tzinfo=None)

    message = _render(
        mail_settings, "password_changed", timezone="Asia/Tokyo", context={"at": naive}
    )

    assert "2025-01-09 21:30 Asia/Tokyo (UTC+09:00)" in text_of(message)


@pytest.mark.parametrize(
    ("language", "expected", "subject"),
    [
        ("fr-CA", "fr", "Réinitialisez votre mot de passe"),
        ("DE", "de", "Setzen Sie Ihr Passwort zurück"),
        ("de_AT", "de", "Setzen Sie Ihr Passwort zurück"),
        ("pt-BR", "en", "Reset your password"),
        ("", "en", "Reset your password"),
        (None, "en", "Reset your password"),
    ],
)
def test_language_falls_back_to_primary_tag_then_english(
    mail_settings: Settings, language: str | None, expected: str, subject: str
) -> None:
    message = _render(mail_settings, "password_reset", language=language)

    assert message["Subject"] == subject
    assert message["Content-Language"] == expected
    assert f'<html lang="{expected}">' in html_of(message)


def test_html_part_escapes_what_the_client_sent(mail_settings: Settings) -> None:
    hostile = '<script>alert("x")</script><a href="https://evil.example">'
    context = {"user_agent": hostile, "ip_address": "203.0.113.9", "at": WINTER}

    message = _render(mail_settings, "new_device_login", context=context)

    html = html_of(message)
    assert "<script>" not in html
    assert 'evil.example">' not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert hostile in text_of(message)  # plain text shows it as it came, harmlessly


def test_unknown_device_details_are_said_so(mail_settings: Settings) -> None:
    context = {"user_agent": None, "ip_address": None, "at": WINTER}

    message = _render(mail_settings, "new_device_login", language="fr", context=context)

    assert "Appareil :   inconnu" in text_of(message)


def test_missing_context_is_an_error_not_a_blank(mail_settings: Settings) -> None:
    with pytest.raises(jinja2.UndefinedError, match="expires_at"):
        _render(mail_settings, "verify_email", context={"token": "t"})


def test_unknown_template_is_refused(mail_settings: Settings) -> None:
    with pytest.raises(ValueError, match="welcome"):
        render(
            "welcome",
            to="a@example.com",
            language="en",
            timezone="UTC",
            context={},
            settings=mail_settings,
        )


def test_a_recipient_cannot_smuggle_headers(mail_settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"linefeed|carriage"):
        _render(mail_settings, "password_changed", to="a@example.com\r\nBcc: eve@example.com")


def test_a_french_mail_is_french_throughout(mail_settings: Settings) -> None:
    message = _render(mail_settings, "password_changed", language="fr-CH", timezone="Europe/Paris")

    assert message["Subject"] == "Votre mot de passe a été modifié"
    assert text_of(message) == (
        "Bonjour,\n\n"
        "Le mot de passe de votre compte a été modifié le 2025-01-09 13:30 Europe/Paris (UTC+01:00).\n"
        "Les sessions ouvertes sur vos autres appareils ont été déconnectées.\n\n"
        "Si vous n'êtes pas à l'origine de ce changement, choisissez tout de suite\n"
        "un nouveau mot de passe avec « Mot de passe oublié » et vérifiez vos sessions :\n\n"
        "https://portal.example/account/sessions\n\n"
        "-- \n"
        "Message automatique de pe-portal, le portail investisseurs.\n"
        "Les réponses ne sont pas lues.\n"
    )
    html = html_of(message)
    assert '<html lang="fr">' in html
    assert ">Voir mes sessions</a>" in html
    assert "Message automatique de pe-portal, le portail investisseurs. Les réponses" in html


def test_a_german_mail_is_german_throughout(mail_settings: Settings) -> None:
    context = {"user_agent": None, "ip_address": "203.0.113.9", "at": WINTER}

    message = _render(mail_settings, "new_device_login", language="de-AT", context=context)

    assert message["Subject"] == "Neue Anmeldung bei Ihrem Konto"
    assert message["Content-Language"] == "de"
    assert text_of(message) == (
        "Guten Tag,\n\n"
        "bei Ihrem Konto hat sich ein Gerät angemeldet, das wir noch nicht kannten.\n\n"
        "Gerät:      unbekannt\n"
        "IP-Adresse: 203.0.113.9\n"
        "Zeit:       2025-01-09 12:30 UTC\n\n"
        "Wenn Sie das waren, ist nichts zu tun. Andernfalls melden Sie diese Sitzung ab\n"
        "und ändern Sie Ihr Passwort:\n\n"
        "https://portal.example/account/sessions\n\n"
        "-- \n"
        "Automatische Nachricht von pe-portal, dem Investorenportal.\n"
        "Antworten werden nicht gelesen.\n"
    )
    html = html_of(message)
    assert ">Gerät</th><td" in html
    assert ">Meine Sitzungen ansehen</a>" in html


@pytest.mark.parametrize(("by_operator", "said"), [(True, " von einem Administrator"), (False, "")])
def test_a_sentence_is_translated_whole_not_pieced_together(
    mail_settings: Settings, by_operator: bool, said: str
) -> None:
    context = {"at": WINTER, "added": False, "kind": "TOTP", "name": "Phone"}

    message = _render(
        mail_settings,
        "mfa_factor_changed",
        language="de",
        context={**context, "by_operator": by_operator},
    )

    expected = f"Der zweite Faktor TOTP „Phone“ wurde am 2025-01-09 12:30 UTC{said} aus Ihrem Konto entfernt."
    assert expected in text_of(message)
    assert expected in html_of(message)


@pytest.mark.parametrize("language", LANGUAGES)
def test_values_in_translated_sentences_are_escaped_in_html_only(
    mail_settings: Settings, language: str
) -> None:
    name = '<b>"Ann\'s" & co</b>'
    context = {"at": WINTER, "added": True, "kind": "TOTP", "name": name, "by_operator": False}

    message = _render(mail_settings, "mfa_factor_changed", language=language, context=context)

    assert "&lt;b&gt;&#34;Ann&#39;s&#34; &amp; co&lt;/b&gt;" in html_of(message)
    assert "<b>" not in html_of(message)
    assert name in text_of(message)  # plain text: no HTML entities
    assert "&amp;" not in text_of(message)
