"""`python -m bench.storm`: the sign-in storm against saturating reads (issue 19), alone.

For each checkout (`--code`, several allowed: A/B in one run on one database), worker count and
`SIGN_IN_CPU_SHARE` setting: the authenticated read alone, the login storm alone, then both at
once. Printed: sign-ins/s during reads against the storm alone, read p99 during the storm
against the read alone, and the load average, so a noisy shared machine shows in the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import scenarios, servers
from bench.__main__ import settle
from bench.cluster import bench_database
from bench.load import ensure_wrk
from bench.scenarios import Run
from pe_portal.ops.seed import demo_email


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__)
    parser.add_argument("--code", type=Path, action="append", help="checkout(s); default: this")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--shares", default="", help="comma-separated SIGN_IN_CPU_SHARE values")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def one(run: Run, code: Path, workers: int, share: str | None, first: int) -> dict[str, Any]:
    """Read alone, storm alone, storm during reads, on one server."""
    extra = {"SIGN_IN_CPU_SHARE": share} if share else {}
    log = run.logs / f"{code.name}-{workers}w-{share}-{first}.log"
    with servers.portal(run.db.env(**extra), workers, log, code) as server:
        tokens = scenarios.sign_in(server.url, 64, first=first)
        path = scenarios.read_path(server.url)
        scenarios.warm_up(server, tokens.access, path)
        emails = [demo_email(index) for index in range(first + 100, first + 1100)]
        load_before = _loadavg()
        read = scenarios.authenticated_read(run, server, tokens, path)
        storm = scenarios.login(run, server, emails)
        storm_read, storm_login = scenarios.read_during_storm(run, server, tokens, path, emails)
        load_after = _loadavg()
    return {
        "code": str(code), "workers": workers, "share": share or "default",
        "read_rps": round(read.rps), "read_p99_ms": round(read.p99_ms, 1),
        "storm_alone_ok_per_s": round(storm.ok_per_second(), 2),
        "storm_alone_statuses": storm.statuses,
        "storm_read_rps": round(storm_read.rps), "storm_read_p99_ms": round(storm_read.p99_ms, 1),
        "storm_ok_per_s": round(storm_login.ok_per_second(), 2),
        "storm_statuses": storm_login.statuses,
        "sign_in_ratio": _ratio(storm_login.ok_per_second(), storm.ok_per_second()),
        "p99_ratio": _ratio(storm_read.p99_ms, read.p99_ms),
        "loadavg": f"{load_before} -> {load_after}",
    }  # fmt: skip


def _ratio(value: float, reference: float) -> float:
    return round(value / reference, 2) if reference else 0.0


def _show(row: dict[str, Any]) -> None:
    print(
        f"{Path(row['code']).name:<12} {row['workers']}w share {row['share']:<7} "
        f"storm alone {row['storm_alone_ok_per_s']:>5} /s  during reads {row['storm_ok_per_s']:>5} /s "
        f"(ratio {row['sign_in_ratio']}, target >= 0.50)  read p99 {row['read_p99_ms']} -> "
        f"{row['storm_read_p99_ms']} ms (ratio {row['p99_ratio']}, target <= 3.0)  "
        f"reads {row['read_rps']} -> {row['storm_read_rps']} req/s  load {row['loadavg']}",
        flush=True,
    )


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    ensure_wrk()
    codes = [code.resolve() for code in (args.code or [servers.REPO])]
    shares: list[str | None] = [s for s in args.shares.split(",") if s] or [None]
    rows: list[dict[str, Any]] = []
    with bench_database() as db:
        run = Run(db, args.seconds, 64, Path(tempfile.mkdtemp(prefix="pe-portal-storm-")))
        subprocess.run(
            [sys.executable, "-m", "pe_portal.cli", "db", "seed-demo", "--users",
             str(args.users), "--audit-rows", "10000", "--expired-sessions", "1000"],
            env=db.env(), check=True, capture_output=True,
        )  # fmt: skip
        settle(run)
        first = 0
        for _ in range(args.rounds):
            for workers in (int(w) for w in args.workers.split(",")):
                for share in shares:
                    for code in codes:
                        row = one(run, code, workers, share, first)
                        first = (first + 1200) % max(args.users - 1200, 1)
                        rows.append(row)
                        _show(row)
    print(f"nproc {os.cpu_count()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
