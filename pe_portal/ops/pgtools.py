"""PostgreSQL's client programs (pg_dump, pg_restore, psql): found for the server's major version,
pointed at a database URL without putting its password on a command line."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from pe_portal.db.engine import hosts_as_query
from pe_portal.errors import PortalError

PROGRAMS = ("pg_dump", "pg_restore", "psql")
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")
_PSQL_PREFIX = re.compile(r"^psql:<stdin>:\d+: ")
# libpq connection parameters we pass on from a URL's query string, as environment variables.
_LIBPQ_QUERY = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "host": "PGHOST",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


class OperationFailed(PortalError):
    code = "operation_failed"
    message = "The operation failed."


@dataclass(frozen=True)
class PgTools:
    bindir: Path
    major: int

    def path(self, program: str) -> str:
        return str(self.bindir / program)


def _program_major(program: Path) -> int | None:
    try:
        result = subprocess.run(  # noqa: S603 - a path we found ourselves, fixed arguments
            [str(program), "--version"], capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(result.stdout)
    return int(match.group(1)) if match else None


def _candidate_dirs(major: int, system_root: Path) -> list[Path]:
    candidates = [system_root / str(major) / "bin"]
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(  # noqa: S603 - fixed argv
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    found = shutil.which("pg_dump")
    if found:
        candidates.append(Path(found).resolve().parent)
    return candidates


def find_tools(major: int, system_root: Path = Path("/usr/lib/postgresql")) -> PgTools:
    """pg_dump, pg_restore and psql of the server's major version, or a message saying how."""
    seen: list[str] = []
    for bindir in _candidate_dirs(major, system_root):
        if not all((bindir / name).is_file() for name in PROGRAMS):
            continue
        found = _program_major(bindir / "pg_dump")
        if found == major:
            return PgTools(bindir, major)
        seen.append(f"{bindir} (PostgreSQL {found})")
    elsewhere = f" Found only: {', '.join(seen)}." if seen else ""
    raise OperationFailed(
        f"pg_dump, pg_restore and psql of PostgreSQL {major} (the server's version) were not "
        f"found in {system_root}/{major}/bin, `pg_config --bindir` or PATH.{elsewhere} Install "
        f"them (Debian/Ubuntu: `sudo apt-get install postgresql-client-{major}`) and try again.",
        code="pg_tools_missing",
    )


def libpq_environment(url: str) -> dict[str, str]:
    """The environment that points libpq at `url`: the password never appears in `ps`."""
    parsed = make_url(hosts_as_query(url))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    values = {
        "PGHOST": parsed.host,
        "PGPORT": str(parsed.port) if parsed.port else None,
        "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password,
        "PGDATABASE": parsed.database,
        "PGCONNECT_TIMEOUT": "10",
        "PGAPPNAME": "pe-portal",
    }
    for key, value in parsed.query.items():
        name = _LIBPQ_QUERY.get("sslmode" if key == "ssl" else key)
        if name and isinstance(value, str):
            values[name] = value
    hosts = parsed.query.get("host")
    if isinstance(hosts, tuple):  # several hosts (failover): libpq takes comma-separated lists
        pairs = [host.rpartition(":") if ":" in host else (host, "", "5432") for host in hosts]
        values["PGHOST"] = ",".join(pair[0] for pair in pairs)
        values["PGPORT"] = ",".join(pair[2] for pair in pairs)
    env.update({key: value for key, value in values.items() if value})
    return env


async def stream_lines(stream: asyncio.StreamReader | None, on_line: Callable[[str], None]) -> None:
    """Feed each line a program writes to `on_line` (verbose output drives the progress bars)."""
    if stream is None:
        return
    async for raw in stream:
        on_line(raw.decode(errors="replace").rstrip())


def last_lines(lines: list[str], count: int = 4) -> str:
    """The lines of a program's output that explain a failure, not its verbose chatter."""
    # pg_malloc's "out of memory" carries no prefix: a damaged block length asks for gigabytes.
    markers = ("error", "fatal", "detail:", "hint:", "could not", "failed", "out of memory")
    wanted = [line for line in lines if any(marker in line.lower() for marker in markers)]
    chosen = [_PSQL_PREFIX.sub("", line) for line in (wanted or lines)[-count:]]
    return " ".join(chosen).strip() or "(no message)"
