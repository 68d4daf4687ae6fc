"""pgBackRest for the embedded cluster (DESIGN "Recovery and replicas"): where its repository and
configuration live, and the `archive_command` that hands it every finished WAL segment.

The configuration is written at every start of the cluster (the port may change); pgBackRest then
runs as the server's user, so the repository belongs to that user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pe_portal.db.embedded import ADMIN_ROLE, EmbeddedCluster

STANZA = "pe-portal"
PGBACKREST_MISSING = (
    "pgBackRest was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install "
    "pgbackrest`), then restart the embedded cluster (any `pe-portal` command starts it) so that "
    "WAL archiving begins."
)
_CONFIG = """# written by pe-portal for the embedded cluster; regenerated at every start
[global]
repo1-path={repo}
repo1-retention-full={retention}
log-path={state}/log
lock-path={state}/lock
spool-path={state}/spool
log-level-console=warn
log-level-stderr=off
log-level-file=info
compress-type=lz4
start-fast=y
archive-timeout=60

[{stanza}]
pg1-path={pgdata}
pg1-port={port}
pg1-socket-path={socket}
pg1-user={user}
"""


def find_pgbackrest() -> str | None:
    """The pgbackrest program, or None."""
    return shutil.which("pgbackrest")


Runner = Callable[..., subprocess.CompletedProcess[str]]


def run_here(
    argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run pgBackRest as ourselves (a self-hosted server's repository host)."""
    return subprocess.run(  # noqa: S603 - argv built from our own settings
        argv, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})},
        timeout=timeout,
    )  # fmt: skip


class ArchiveError(Exception):
    """pgBackRest is missing or refused; the message is its own, with what to do."""


@dataclass(frozen=True)
class BackRest:
    """One pgBackRest setup: the program, its configuration, the stanza, and how to run it."""

    program: str
    config: Path | None
    stanza: str = STANZA
    cluster: EmbeddedCluster | None = None  # the embedded cluster, whose user runs pgBackRest
    env: dict[str, str] = field(default_factory=dict)
    repo: Path | None = None  # a local repository (the embedded one), for the WAL check
    admin_url: str | None = None  # may call pg_switch_wal() and read pg_stat_archiver

    def argv(self, command: str, *options: str) -> list[str]:
        config = [f"--config={self.config}"] if self.config else []
        return [self.program, *config, f"--stanza={self.stanza}", *options, command]

    def archive_command(self) -> str:
        return " ".join(self.argv("archive-push")) + " %p"

    def run(self, command: str, *options: str, timeout: float | None = None) -> str:
        """Run a command; its stdout, or ArchiveError with pgBackRest's own reason."""
        try:
            runner: Runner = self.cluster.run_as_server if self.cluster else run_here
            result = runner(self.argv(command, *options), env=self.env, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            raise ArchiveError(f"pgBackRest {command} did not finish in {timeout} s") from error
        if result.returncode != 0:
            lines = (result.stderr + result.stdout).strip().splitlines()
            reason = " ".join(line for line in lines if "ERROR" in line) or " ".join(lines[-3:])
            raise ArchiveError(f"pgBackRest {command} failed: {reason.strip() or 'no message'}")
        return result.stdout


def state_dir(cluster: EmbeddedCluster) -> Path:
    """pgBackRest's configuration, logs and locks, beside the data directory."""
    return cluster.data_dir.with_name(cluster.data_dir.name + ".pgbackrest")


def embedded_backrest(
    cluster: EmbeddedCluster, repo: Path, port: int | None = None
) -> BackRest | None:
    """The embedded cluster's pgBackRest (None when not installed); with the port it runs on,
    one that may connect to it."""
    program = find_pgbackrest()
    if program is None:
        return None
    return BackRest(
        program,
        state_dir(cluster) / "pgbackrest.conf",
        cluster=cluster,
        env={"PGPASSWORD": cluster.admin_password()} if port else {},
        repo=repo.resolve(),
        admin_url=cluster.url(port, ADMIN_ROLE) if port else None,
    )


def self_hosted_backrest(stanza: str, admin_url: str | None) -> BackRest:
    """pgBackRest beside a server we do not run: its own configuration (/etc/pgbackrest)."""
    program = find_pgbackrest()
    if program is None:
        raise ArchiveError(PGBACKREST_MISSING)
    return BackRest(program, None, stanza=stanza, admin_url=admin_url)


def write_config(
    cluster: EmbeddedCluster, backrest: BackRest, repo: Path, port: int, retention: int
) -> None:
    """The stanza for this cluster on `port`, its repository at `repo` (made if missing)."""
    if backrest.config is None:
        return
    state = state_dir(cluster)
    for path in (repo, state, state / "log", state / "lock", state / "spool"):
        path.mkdir(parents=True, exist_ok=True)
        cluster.hand_to_server_user(path)
    text = _CONFIG.format(
        repo=repo.resolve(), retention=retention, state=state, stanza=backrest.stanza,
        pgdata=cluster.data_dir, port=port, socket=cluster.socket_dir, user=ADMIN_ROLE,
    )  # fmt: skip
    backrest.config.write_text(text)
    backrest.config.chmod(0o644)  # no secret in it: the password comes from the environment


def ensure_stanza(backrest: BackRest) -> None:
    """Create the stanza once, so archive-push has somewhere to put the first segment."""
    if backrest.repo and (backrest.repo / "backup" / backrest.stanza / "backup.info").is_file():
        return
    backrest.run("stanza-create", timeout=120)
