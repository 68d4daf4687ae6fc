"""The gettext catalogs: `locale/<lang>/LC_MESSAGES/messages.po`, compiled in memory on first use."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from io import BytesIO

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from pe_portal.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES

DOMAIN = "messages"


@cache
def translations(language: str) -> Translations:
    """The translations of one of LANGUAGES (English, the source, has none); ValueError otherwise.

    The `.po` file is read and compiled in memory, once per process and language: no `.mo`
    file is kept in git or built at install time, so a catalog edit takes effect on restart.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; negotiate() picks one of {LANGUAGES}")
    if language == DEFAULT_LANGUAGE:
        return Translations(domain=DOMAIN)  # empty: every msgid is its own English text
    source = files("pe_portal.i18n") / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with source.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def gettext(message: str, *, language: str) -> str:
    """`message` (English, extracted as a msgid) in `language`."""
    return translations(language).gettext(message)


def pgettext(context: str, message: str, *, language: str) -> str:
    """`message` in `language`, for one `context` where the same English needs another wording."""
    translated = translations(language).pgettext(context, message)
    return translated if isinstance(translated, str) else message  # babel types it `str | object`


def ngettext(singular: str, plural: str, n: int, *, language: str) -> str:
    """The singular or the plural form for `n` in `language` (its own plural rules)."""
    return translations(language).ngettext(singular, plural, n)
