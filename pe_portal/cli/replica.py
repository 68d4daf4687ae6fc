"""`pe-portal db replica start [--sync]|status|promote|stop`: a streaming standby of the
embedded cluster (DESIGN "Recovery and replicas")."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

from pe_portal.cli.common import console, fail, friendly_errors
from pe_portal.config import Settings, get_settings
from pe_portal.db.embedded import EmbeddedCluster
from pe_portal.db.replica import EmbeddedReplica

app = typer.Typer(help="A streaming standby of the embedded cluster.", no_args_is_help=True)


def _embedded(settings: Settings) -> tuple[EmbeddedReplica, int | None]:
    if settings.database_url:
        fail(
            "`db replica` runs a standby of the embedded cluster; for a self-hosted server "
            "follow docs/operations.md, 'Replicas'."
        )
    primary = EmbeddedCluster(settings.pgdata_dir)
    return EmbeddedReplica(primary), primary.running_port()


@app.command()
def start(
    sync: bool = typer.Option(False, "--sync", help="synchronous: commits wait for the standby"),
) -> None:
    """Create (pg_basebackup -R) and start the standby; the primary must be running."""
    with friendly_errors():
        replica, primary_port = _embedded(get_settings())
        if primary_port is None:
            fail("the embedded primary is not running: start it (`pe-portal serve`) first.")
        console.print(f"cloning and starting the standby in {replica.cluster.data_dir} ...")
        replica.start(primary_port, sync=sync)
        port = replica.cluster.running_port()
    mode = "synchronous" if sync else "asynchronous"
    console.print(f"[green]replica running[/] on 127.0.0.1:{port} ({mode} replication)")
    console.print(f"read from it: DATABASE_REPLICA_URLS=postgresql://…@127.0.0.1:{port}/pe_portal")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """State, lag (bytes and seconds) and port of the standby."""
    with friendly_errors():
        replica, primary_port = _embedded(get_settings())
        state = replica.status(primary_port)
    if as_json:
        typer.echo(json.dumps(asdict(state)))
        return
    lag = (
        f"lag {state.lag_bytes} bytes, {state.lag_seconds:.3f} s"
        if state.lag_bytes is not None and state.lag_seconds is not None
        else "lag unknown"
    )
    console.print(
        f"replica: {state.state} · port {state.port or '-'} · {state.sync or '-'} · {lag}"
    )


@app.command()
def promote() -> None:
    """Make the standby the primary (after the primary died); point DATABASE_URL at it."""
    with friendly_errors():
        replica, primary_port = _embedded(get_settings())
        port = replica.promote(primary_port)
    console.print(f"[green]promoted[/]: 127.0.0.1:{port} now accepts writes")


@app.command()
def stop() -> None:
    """Stop the standby (a synchronous primary stops waiting for it first)."""
    with friendly_errors():
        replica, primary_port = _embedded(get_settings())
        replica.stop(primary_port)
    console.print("replica stopped")
