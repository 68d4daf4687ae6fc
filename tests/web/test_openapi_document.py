"""The served OpenAPI document is the committed one (`docs/openapi.json`), so that every change
to the API shows in review. After a deliberate change: `make openapi`, and commit the file."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from pe_portal.config import Settings
from pe_portal.web.app import create_app

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"


def served_document() -> dict[str, Any]:
    """The document the app serves with the default settings (its directories are never
    written: the app is not started)."""
    with tempfile.TemporaryDirectory(prefix="pe-portal-openapi-") as directory:
        home = Path(directory)
        settings = Settings(env="test", jwt_keys_dir=home / "keys", mail_dir=home / "mail",
                            _env_file=None)  # fmt: skip
        return create_app(settings).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_the_served_document_is_the_committed_one() -> None:
    committed = COMMITTED.read_text(encoding="utf-8")
    assert render(served_document()) == committed, (
        "The API document changed: review the change, then run `make openapi` and commit "
        "docs/openapi.json."
    )


if __name__ == "__main__":
    sys.stdout.write(render(served_document()))
