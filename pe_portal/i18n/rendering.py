"""Jinja2 environments whose templates speak one language through the shared catalogs."""

from __future__ import annotations

from functools import cache

import jinja2

from pe_portal.i18n.catalogs import translations


@cache
def templates(package: str, language: str) -> jinja2.Environment:
    """The templates in `package`'s `templates/` folder, translated into `language`.

    `jinja2.ext.i18n` is installed newstyle: `{% trans x=... %}…{{ x }}…{% endtrans %}` and
    `_()` format their placeholders themselves, escaping the values in HTML templates (the
    translated text is trusted) and leaving `.txt` templates unescaped. The environment is
    shared: callers pass variables at render time and never change it.
    """
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        extensions=["jinja2.ext.i18n"],
        # Only plain text is left unescaped: anything else that is ever added is HTML-safe.
        autoescape=jinja2.select_autoescape(disabled_extensions=("txt",), default=True),
        undefined=jinja2.StrictUndefined,  # a variable a template needs and did not get is a bug
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Added to the environment by the i18n extension, hence unknown to the type checker.
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    environment.globals["lang"] = language
    return environment
