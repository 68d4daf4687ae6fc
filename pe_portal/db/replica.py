"""A streaming standby of the embedded cluster (`pe-portal db replica ...`): PostgreSQL's own
replication, made with `pg_basebackup -R`, on a port and data directory of its own under `var/`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pe_portal.db.embedded import ADMIN_ROLE, EmbeddedCluster, EmbeddedError

APPLICATION_NAME = "pe_portal_replica"  # how the primary's synchronous_standby_names names it
_STATUS = """
SELECT state, sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
       coalesce(extract(epoch FROM replay_lag), 0)
FROM pg_stat_replication WHERE application_name = 'pe_portal_replica'
"""


@dataclass(frozen=True)
class ReplicaStatus:
    state: str  # streaming, catchup, stopped, not created, promoted
    port: int | None
    sync: str | None = None  # sync or async, as the primary sees it
    lag_bytes: int | None = None
    lag_seconds: float | None = None


class EmbeddedReplica:
    """The standby beside `primary`: `<pgdata>-replica`, its credentials copied from the primary."""

    def __init__(self, primary: EmbeddedCluster) -> None:
        self.primary = primary
        data_dir = primary.data_dir.with_name(primary.data_dir.name + "-replica")
        self.cluster = EmbeddedCluster(data_dir, primary.bindir)

    def start(self, primary_port: int, *, sync: bool) -> bool:
        """Create the standby on first use, start it; True when this call started it."""
        if not self.cluster.is_initialised():
            self._clone(primary_port)
        self.set_synchronous(primary_port, sync)
        return self.cluster.start()

    def _clone(self, primary_port: int) -> None:
        if self.cluster.data_dir.exists() and any(self.cluster.data_dir.iterdir()):
            raise EmbeddedError(f"{self.cluster.data_dir} is in the way: delete it and retry.")
        self.cluster.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.cluster.hand_to_server_user(self.cluster.data_dir)
        conninfo = (
            f"host=127.0.0.1 port={primary_port} user={ADMIN_ROLE} "
            f"application_name={APPLICATION_NAME}"
        )
        result = self.cluster.run_as_server(
            [str(self.primary.bindir / "pg_basebackup"), "-D", str(self.cluster.data_dir),
             "-R", "-X", "stream", "-c", "fast", "-d", conninfo],
            env={"PGPASSWORD": self.primary.admin_password()},
        )  # fmt: skip
        if result.returncode != 0:
            raise EmbeddedError(f"pg_basebackup failed: {result.stderr.strip()}")
        state = json.loads(self.primary.secrets_file.read_text())
        state["port"] = None  # a port of its own
        fd = os.open(self.cluster.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle)

    def set_synchronous(self, primary_port: int, sync: bool) -> None:
        """With sync, a commit on the primary waits until the standby has flushed it."""
        statement = (
            f"SET synchronous_standby_names = '{APPLICATION_NAME}'"
            if sync
            else "RESET synchronous_standby_names"
        )
        self.primary.psql(primary_port, "postgres", f"ALTER SYSTEM {statement}")
        self.primary.psql(primary_port, "postgres", "SELECT pg_reload_conf()")

    def status(self, primary_port: int | None) -> ReplicaStatus:
        port = self.cluster.running_port()
        if not self.cluster.is_initialised():
            return ReplicaStatus("not created", None)
        if port is None:
            return ReplicaStatus("stopped", None)
        if self.cluster.psql(port, "postgres", "SELECT pg_is_in_recovery()").strip() != "t":
            return ReplicaStatus("promoted", port)
        row = self.primary.psql(primary_port, "postgres", _STATUS).strip() if primary_port else ""
        if not row:
            return ReplicaStatus("disconnected", port)
        state, sync, lag_bytes, lag_seconds = row.split("|")
        return ReplicaStatus(state, port, sync, int(lag_bytes or 0), float(lag_seconds or 0))

    def promote(self, primary_port: int | None) -> int:
        """Make the standby a primary (after the old one died); its port."""
        port = self.cluster.running_port()
        if port is None:
            raise EmbeddedError("the replica is not running: `pe-portal db replica start` first")
        pg_ctl = str(self.cluster.bindir / "pg_ctl")
        result = self.cluster.run_as_server(
            [pg_ctl, "promote", "-D", str(self.cluster.data_dir), "-w"]
        )
        if result.returncode != 0:
            raise EmbeddedError(f"pg_ctl promote failed: {result.stderr.strip()}")
        # A clone made while --sync was on copied the setting: the new primary must not wait
        # for a standby of its own that does not exist.
        self.cluster.psql(port, "postgres", "ALTER SYSTEM RESET synchronous_standby_names")
        self.cluster.psql(port, "postgres", "SELECT pg_reload_conf()")
        if primary_port is not None:  # the old primary, if alive, must not wait for it either
            self.set_synchronous(primary_port, sync=False)
        return port

    def stop(self, primary_port: int | None) -> None:
        """Stop the standby; a primary waiting on it synchronously stops waiting first."""
        if primary_port is not None:
            self.set_synchronous(primary_port, sync=False)
        self.cluster.stop()
