"""The catalogs follow the sources: every English string translated, and the .pot up to date.

A string added to a template (or a `gettext` call) fails here until `make messages` has been
run and the French and German translations written (docs/i18n.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from pe_portal.i18n import LANGUAGES, gettext, pgettext, translations

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "pe_portal" / "i18n" / "locale"
TRANSLATED = [language for language in LANGUAGES if language != "en"]
# Exactly what `make messages` runs (Makefile, docs/i18n.md), into a temporary file.
EXTRACT = [
    "pybabel", "--quiet", "extract", "--mapping-file=babel.cfg", "--project=pe-portal",
    "--copyright-holder=pe-portal", "--add-comments=Translators:",
]  # fmt: skip


@pytest.fixture(scope="module")
def fresh_pot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("i18n") / "messages.pot"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # babel.cfg and the locations in the .pot are relative to the root
        # pybabel itself, untyped: the test runs what the translators run.
        CommandLineInterface().run([*EXTRACT, f"--output-file={output}", "."])  # type: ignore[no-untyped-call]
    return output


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=locale)


def _key(message: Message) -> tuple[object, str | None]:
    return message.id, message.context


def _entries(path: Path) -> list[tuple[object, ...]]:
    """What a translator works from: each message with its context, flags and comments for
    translators. Not the header (dates) nor the source locations (any edit above a string
    moves them; `make messages` refreshes them)."""
    return sorted(
        (str(message.id), message.context or "", sorted(message.flags),
         tuple(message.auto_comments))
        for message in _read(path)
        if message.id
    )  # fmt: skip


def test_the_template_on_disk_is_a_fresh_extraction(fresh_pot: Path) -> None:
    assert _entries(LOCALE / "messages.pot") == _entries(fresh_pot), "run `make messages`"


def test_the_sources_have_strings_to_translate(fresh_pot: Path) -> None:
    assert len([message for message in _read(fresh_pot) if message.id]) > 40


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_is_translated_and_nothing_is_left_over(
    fresh_pot: Path, language: str
) -> None:
    source = {_key(message) for message in _read(fresh_pot) if message.id}
    catalog = _read(LOCALE / language / "LC_MESSAGES" / "messages.po", locale=language)
    entries = {_key(message): message for message in catalog if message.id}

    assert sorted(map(str, source - entries.keys())) == [], "untranslated: run `make messages`"
    assert sorted(map(str, entries.keys() - source)) == [], "no longer in the sources"
    assert list(catalog.obsolete) == [], "obsolete (#~) entries: delete them"
    for key, message in entries.items():
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(forms), f"empty translation of {key}"
        assert not message.fuzzy, f"fuzzy translation of {key}: check it, then drop the flag"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders(language: str) -> None:
    catalog = _read(LOCALE / language / "LC_MESSAGES" / "messages.po", locale=language)

    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]

    assert problems == []


def test_translations_come_from_the_catalogs() -> None:
    assert gettext("Hello,", language="fr") == "Bonjour,"
    assert gettext("Hello,", language="de") == "Guten Tag,"
    assert gettext("Hello,", language="en") == "Hello,"
    assert pgettext("device", "unknown", language="fr") == "inconnu"
    assert pgettext("IP address", "unknown", language="fr") == "inconnue"
    assert translations("fr") is translations("fr")  # compiled once per process


def test_an_unsupported_language_is_refused() -> None:
    with pytest.raises(ValueError, match="pt"):
        translations("pt")
