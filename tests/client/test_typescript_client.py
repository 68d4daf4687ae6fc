"""A TypeScript client generated from the served /openapi.json (openapi-typescript, with
openapi-fetch), compiled with `tsc --strict`, signs up, signs in, reads /users/me, refreshes,
lists its sessions, signs out and reads the 401's `error.code` — against the real server, in
Node. The npm packages are pinned in package-lock.json; `make install-dev` runs `npm ci`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD, unique_email
from tests.robustness.served import Served

HERE = Path(__file__).parent
BIN = HERE / "node_modules" / ".bin"


def _run(*command: str | Path) -> str:
    done = subprocess.run(  # noqa: S603 - our own pinned tools
        [str(part) for part in command], cwd=HERE, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def compiled_client(served: Served) -> Path:
    """The client, generated from the document the server serves and compiled strictly."""
    if not (BIN / "tsc").exists():
        pytest.fail("tests/client/node_modules is missing: run `make install-dev` (npm ci)")
    document = HERE / "generated" / "openapi.json"
    document.parent.mkdir(exist_ok=True)
    document.write_text(httpx.get(f"{served.url}/openapi.json").text)
    _run(BIN / "openapi-typescript", document, "-o", HERE / "generated" / "schema.d.ts")
    shutil.rmtree(HERE / "dist", ignore_errors=True)
    _run(BIN / "tsc", "-p", "tsconfig.json")
    return HERE / "dist" / "client.js"


def test_the_client_source_has_no_escape_hatch() -> None:
    source = (HERE / "client.ts").read_text()
    assert not re.search(r"\bany\b|as unknown|@ts-", source)


def test_a_generated_client_goes_through_a_session(served: Served, compiled_client: Path) -> None:
    node = shutil.which("node")
    assert node, "node is missing: scripts/install-test-deps.sh installs it"
    email = unique_email("ts-client")
    seen = json.loads(_run(node, compiled_client, served.url, email, PASSWORD))
    assert seen["meEmail"] == email
    assert seen["registeredId"]
    assert seen["rotated"] is True
    assert seen["currentSessions"] == 1
    assert seen["afterSignOut"] == {"status": 401, "code": "session_revoked"}
