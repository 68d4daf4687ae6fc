"""Languages and translations shared by everything a person reads: the mails and the console.

English is the source language (msgids are the English text); French and German come from the
gettext catalogs under `locale/`, compiled in memory when first used (no `.mo` files in git).
The translator's workflow (extract, update, translate, check) is in docs/i18n.md.

    from pe_portal import i18n

    lang = i18n.negotiate(profile.language, request.headers.get("accept-language"))
    page = i18n.templates("pe_portal.console", lang).get_template("sessions.html")
    when = i18n.format_datetime(at, zone=i18n.resolve_zone(profile.timezone), language=lang)
    title = i18n.gettext("Your sessions", language=lang)   # strings in Python code

In templates, `{% trans %}…{% endtrans %}`, `_()`, `pgettext()` and `ngettext()` are installed
*newstyle*: placeholders are `%`-formatted by gettext itself, and escaped in HTML templates.
"""

from pe_portal.i18n.catalogs import gettext, ngettext, pgettext, translations
from pe_portal.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES, negotiate
from pe_portal.i18n.rendering import templates
from pe_portal.i18n.times import format_datetime, resolve_zone

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "format_datetime",
    "gettext",
    "negotiate",
    "ngettext",
    "pgettext",
    "resolve_zone",
    "templates",
    "translations",
]
