"""The API document as served: FastAPI's, with the limits that depend on the running settings
rendered in (a schema names the setting, `SETTING_KEYWORD`; this puts in its value)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pe_portal.config import Settings
from pe_portal.schemas import SETTING_KEYWORD


def _render_settings(node: Any, settings: Settings) -> None:
    """Replace each `{SETTING_KEYWORD: {keyword: setting}}` by `keyword: <its value>`."""
    if isinstance(node, dict):
        for keyword, setting in node.pop(SETTING_KEYWORD, {}).items():
            node[keyword] = getattr(settings, setting)
        for child in node.values():
            _render_settings(child, settings)
    elif isinstance(node, list):
        for child in node:
            _render_settings(child, settings)


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the document with the settings' limits in it, built once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            _render_settings(document, settings)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
