"""A failure nobody foresaw is still one readable line: no traceback, no secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pe_portal.cli import ops
from pe_portal.cli.main import app


def test_an_unforeseen_error_is_one_redacted_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("lost postgresql://owner:hunter2hunter2@db/pe_portal")

    monkeypatch.setattr(ops, "backup", broken)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/x")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["db", "backup"])
    assert result.exit_code == 1
    assert "unexpected RuntimeError: lost postgresql://owner:[REDACTED]@db" in result.output
    assert "hunter2hunter2" not in result.output
    assert "Traceback" not in result.output
