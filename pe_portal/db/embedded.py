"""A private PostgreSQL cluster for this checkout (DESIGN "Embedded default").

`DATABASE_URL` unset: the app initialises `./var/pgdata` on first use, starts PostgreSQL on a free
loopback port, and stops it again when the process that started it exits. PostgreSQL refuses to
run as root, so when we are root the server processes run as the `postgres` system user.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from pe_portal.db.server_conf import STARTUP_INCLUDE, write_startup_conf

ADMIN_ROLE = "pe_portal_admin"
OWNER_ROLE = "pe_portal_owner"
APP_ROLE = "pe_portal_app"
DATABASE = "pe_portal"
_REQUIRED = ("initdb", "pg_ctl", "postgres", "psql")
_SERVER_CONF = (
    """
# --- pe-portal embedded cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
timezone = 'UTC'
max_connections = 200
"""
    + STARTUP_INCLUDE
    + "\n"
)

NO_BINARIES = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH, through "
    "`pg_config --bindir`, or under /usr/lib/postgresql/*/bin. Install PostgreSQL 15 or newer "
    "(Debian/Ubuntu: `sudo apt-get install postgresql`), or set DATABASE_URL to use an existing "
    "server instead of the embedded one."
)


class EmbeddedError(Exception):
    """The embedded cluster cannot be used; the message says why and what to do."""


@dataclass
class ClusterSecrets:
    admin_password: str
    owner_password: str
    app_password: str
    bootstrapped: bool = False
    port: int | None = None  # the last port used; tried first so URLs stay stable across runs

    @classmethod
    def generate(cls) -> ClusterSecrets:
        return cls(
            admin_password=secrets.token_urlsafe(24),
            owner_password=secrets.token_urlsafe(24),
            app_password=secrets.token_urlsafe(24),
        )


def _has_server_binaries(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in _REQUIRED)


def _major_version(bindir: Path) -> float:
    try:
        return float(bindir.parent.name)
    except ValueError:
        return 0.0


def find_bindir(system_root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The directory holding initdb/pg_ctl/postgres, or an EmbeddedError saying how to get them."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(  # noqa: S603 - fixed argv
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    system = sorted(system_root.glob("*/bin"), key=_major_version, reverse=True)
    candidates.extend(system)
    for bindir in candidates:
        if _has_server_binaries(bindir):
            return bindir
    raise EmbeddedError(NO_BINARIES)


def _free_loopback_port(preferred: int | None) -> int:
    for candidate in (preferred, 0):
        if candidate is None:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As PostgreSQL itself does: a port in TIME_WAIT from our last run is still free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise EmbeddedError("No free loopback port for the embedded PostgreSQL.")


class EmbeddedCluster:
    """One data directory and the server that runs on it."""

    def __init__(self, data_dir: Path, bindir: Path | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.bindir = bindir or find_bindir()
        self.secrets_file = self.data_dir.with_name(self.data_dir.name + ".secrets.json")
        self.log_file = self.data_dir / "server.log"
        # A private socket directory: pgBackRest talks to the server through a Unix socket.
        self.socket_dir = self.data_dir.with_name(self.data_dir.name + ".run")
        self._run_as = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    # -- processes -------------------------------------------------------------------------
    def _server_cmd(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a server program, as the `postgres` user when we are root."""
        return self.run_as_server([str(self.bindir / args[0]), *args[1:]])

    def run_as_server(
        self, argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a program as the user the server runs as (pg_basebackup, pgBackRest)."""
        user = self._run_as
        return subprocess.run(  # noqa: S603 - argv built from our own paths
            argv,
            capture_output=True,
            text=True,
            check=False,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            env={**os.environ, **(env or {}), "LC_ALL": "C"},
            cwd="/",
            timeout=timeout,
        )

    def _checked(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self._server_cmd(*args)
        if result.returncode != 0:
            raise EmbeddedError(self._explain(args[0], result))
        return result

    def _explain(self, program: str, result: subprocess.CompletedProcess[str]) -> str:
        output = (result.stderr or result.stdout).strip().splitlines()[-6:]
        log_tail = self._log_tail()
        hint = ""
        if "Permission denied" in " ".join(output) and self._run_as is not None:
            hint = (
                f" Running as root, the server runs as the `postgres` user, which must be able to "
                f"reach {self.data_dir} (every parent directory needs o+x)."
            )
        return (
            f"The embedded PostgreSQL failed ({program}): {' '.join(output)}{log_tail}.{hint} "
            f"If the data directory is damaged and holds nothing you need, delete {self.data_dir} "
            "and its .secrets.json, or set DATABASE_URL to use another server."
        )

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()[-3:]
        except OSError:
            return ""
        return " | server log: " + " ".join(lines) if lines else ""

    # -- state ------------------------------------------------------------------------------
    def _load_secrets(self) -> ClusterSecrets:
        try:
            return ClusterSecrets(**json.loads(self.secrets_file.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise EmbeddedError(
                f"{self.data_dir} exists but its credentials file {self.secrets_file} is missing "
                "or unreadable. Delete the data directory to start afresh, or set DATABASE_URL."
            ) from exc

    def _save_secrets(self, state: ClusterSecrets) -> None:
        self.secrets_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(state), handle)

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def initialise(self) -> None:
        """Run initdb once; a half-made directory is reported, never silently reused."""
        if self.is_initialised():
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedError(
                f"{self.data_dir} is not empty but holds no PostgreSQL cluster (an interrupted "
                "first start?). Delete it and run again."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        state = ClusterSecrets.generate()
        self._save_secrets(state)
        with tempfile.TemporaryDirectory() as tmp:
            pwfile = Path(tmp) / "pw"
            pwfile.write_text(state.admin_password + "\n")
            self.hand_to_server_user(Path(tmp), pwfile, self.data_dir)
            self._checked(
                "initdb", "-D", str(self.data_dir), f"--username={ADMIN_ROLE}",
                f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C",
            )  # fmt: skip
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_SERVER_CONF)

    def hand_to_server_user(self, *paths: Path) -> None:
        if self._run_as is None:
            return
        for path in paths:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def running_port(self) -> int | None:
        """The port of the server running on this data directory, if one runs."""
        if not self.is_initialised():
            return None
        status = self._server_cmd("pg_ctl", "status", "-D", str(self.data_dir))
        if status.returncode != 0:
            return None
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[3])

    def start(self, archive_command: str | None = None) -> bool:
        """Start the server unless it already runs; True when this call started it. With an
        `archive_command`, every finished WAL segment is handed to it (point-in-time recovery)."""
        with self._lock():
            self.initialise()
            if self.running_port() is not None:
                return False
            self._write_startup_conf(archive_command)
            state = self._load_secrets()
            port = _free_loopback_port(state.port)
            self._checked(
                "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                "-w", "-t", "60", "-o", f"-p {port}",
            )  # fmt: skip
            state.port = port
            self._save_secrets(state)
            self._bootstrap(port)
            return True

    def _write_startup_conf(self, archive_command: str | None) -> None:
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        written = write_startup_conf(self.data_dir, self.socket_dir, archive_command)
        self.hand_to_server_user(self.socket_dir, written)

    def stop(self) -> None:
        if self.running_port() is not None:
            self._checked("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w")

    @contextmanager
    def _lock(self) -> Iterator[None]:
        lock_path = self.data_dir.with_name(self.data_dir.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _bootstrap(self, port: int) -> None:
        """Create the owner and app roles and the database, once."""
        state = self._load_secrets()
        if state.bootstrapped:
            return
        statements = [
            f"CREATE ROLE {OWNER_ROLE} LOGIN PASSWORD '{state.owner_password}'",
            f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{state.app_password}'",
            f"GRANT pg_monitor TO {OWNER_ROLE}",
            f"CREATE DATABASE {DATABASE} OWNER {OWNER_ROLE}",
        ]
        for statement in statements:
            self.psql(port, "postgres", statement)
        self.psql(port, DATABASE, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        state.bootstrapped = True
        self._save_secrets(state)

    def psql(self, port: int, database: str, sql: str) -> str:
        """Run SQL as the cluster's superuser (bootstrap and tests only)."""
        state = self._load_secrets()
        result = subprocess.run(  # noqa: S603 - fixed argv
            [str(self.bindir / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(port), "-U", ADMIN_ROLE, "-d", database, "-c", sql],
            capture_output=True, text=True, check=False,
            env={**os.environ, "PGPASSWORD": state.admin_password},
        )  # fmt: skip
        if result.returncode != 0:
            raise EmbeddedError(
                f"The embedded PostgreSQL refused setup SQL: {result.stderr.strip()}"
            )
        return result.stdout

    def admin_password(self) -> str:
        return self._load_secrets().admin_password

    def url(self, port: int, role: str) -> str:
        state = self._load_secrets()
        password = {
            ADMIN_ROLE: state.admin_password,
            OWNER_ROLE: state.owner_password,
            APP_ROLE: state.app_password,
        }[role]
        database = "postgres" if role == ADMIN_ROLE else DATABASE
        return f"postgresql://{role}:{password}@127.0.0.1:{port}/{database}"
