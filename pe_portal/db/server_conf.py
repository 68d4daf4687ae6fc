"""What the embedded cluster's server is told at every start (`pe-portal.conf`, included from
`postgresql.conf`): where its Unix socket is, and whether WAL is archived (db/archive.py)."""

from __future__ import annotations

from pathlib import Path

STARTUP_INCLUDE = "include_if_exists = 'pe-portal.conf'"
_STARTUP_CONF = """# written by pe-portal at every start; edit settings in postgresql.conf instead
unix_socket_directories = '{socket_dir}'
archive_mode = {archive_mode}
archive_command = '{archive_command}'
"""


def write_startup_conf(data_dir: Path, socket_dir: Path, archive_command: str | None) -> Path:
    """Write `pe-portal.conf` (and the include, into a cluster made before it existed)."""
    conf = data_dir / "postgresql.conf"
    if STARTUP_INCLUDE not in conf.read_text():
        with conf.open("a") as handle:
            handle.write("\n" + STARTUP_INCLUDE + "\n")
    text = _STARTUP_CONF.format(
        socket_dir=socket_dir,
        archive_mode="on" if archive_command else "off",
        archive_command=(archive_command or "").replace("'", "''"),
    )
    startup = data_dir / "pe-portal.conf"
    startup.write_text(text)
    return startup
