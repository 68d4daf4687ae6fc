"""`python -m bench` (or `make bench`): every scenario of issue 6, printed as ratios.

Starts its own PostgreSQL under /tmp, seeds it with `pe-portal db seed-demo`, serves the real app
and a bare baseline app in turn, drives them with wrk, and stops everything at the end.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import mfa, report, scenarios, servers
from bench.cluster import bench_database
from bench.load import ensure_wrk
from bench.scenarios import Run, Tokens
from pe_portal.ops.seed import demo_email


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument(
        "--audit-rows",
        type=int,
        default=1_000_000,
        help="10 000 000 is the issue's full size (about 3 min to seed)",
    )
    parser.add_argument("--expired-sessions", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--only-mfa", action="store_true", help="only the second factor's figures (issue 14)"
    )
    parser.add_argument("--skip-mfa", action="store_true", help="not the second factor's figures")
    return parser.parse_args(argv)  # fmt: skip


def seed(run: Run, args: argparse.Namespace) -> None:
    command = [sys.executable, "-m", "pe_portal.cli", "db", "seed-demo",
               "--users", str(args.users), "--audit-rows", str(args.audit_rows),
               "--expired-sessions", str(args.expired_sessions)]  # fmt: skip
    started = time.monotonic()
    with (run.logs / "seed.log").open("wb") as log:
        subprocess.run(command, env=run.db.env(), stdout=log, stderr=log, check=True)
    seeded = time.monotonic()
    settle(run)
    run.results["seed"] = {
        "users": args.users, "audit_rows": args.audit_rows,
        "expired_sessions": args.expired_sessions,
        "seconds": round(seeded - started, 1),
        "settle_seconds": round(time.monotonic() - seeded, 1),
    }  # fmt: skip


def settle(run: Run) -> None:
    """Bring the freshly loaded tables to a live database's state before measuring: otherwise
    autovacuum (visibility map, hint bits of millions of new rows) and the checkpoint after the
    load may run during the first scenarios, on the same two cores."""
    for table in ("users", "user_profiles", "audit_logs", "sessions"):
        run.db.psql(f"VACUUM (ANALYZE) {table}")
    run.db.psql("CHECKPOINT")


def per_workers(run: Run, workers: int, tokens: Tokens | None) -> Tokens:
    """Baseline, then the real app: authenticated read, refresh, login, read under a storm."""
    ids = tokens.user_ids if tokens else None
    figures: dict[str, Any] = {"bcrypt_baseline_per_s": scenarios.bcrypt_baseline(workers, 5)}
    with servers.portal(run.db.env(), workers, run.logs / f"portal-{workers}w.log") as server:
        run.rss[f"portal {workers}w idle"] = server.rss_mib()
        tokens = tokens or scenarios.sign_in(server.url, 64)
        path = scenarios.read_path(server.url)
        scenarios.warm_up(server, tokens.access, path)
        figures["read_path"] = path
        figures["read"] = scenarios.authenticated_read(run, server, tokens, path)
        run.rss[f"portal {workers}w after read"] = server.rss_mib()
        emails = [demo_email(index) for index in range(100, 1100)]
        figures["login"] = scenarios.login(run, server, emails)
        run.rss[f"portal {workers}w after login"] = server.rss_mib()
        figures["storm_read"], figures["storm_login"] = scenarios.read_during_storm(
            run, server, tokens, path, emails
        )
        run.rss[f"portal {workers}w after storm"] = server.rss_mib()
        fresh = scenarios.sign_in(server.url, 64, first=2000 + workers * 100)
        for_baseline = scenarios.sign_in(server.url, 64, first=3000 + workers * 100)
        figures["refresh"] = scenarios.refresh(run, server, fresh)
        run.rss[f"portal {workers}w after refresh"] = server.rss_mib()
    bare = scenarios.baselines(run, workers, ids or tokens.user_ids, for_baseline.refresh)
    figures["baseline"] = bare["read"]
    figures["baseline_none"], figures["baseline_refresh"] = bare["none"], bare["refresh"]
    run.results[f"{workers} workers"] = figures
    return tokens


def at_scale(run: Run, tokens: Tokens) -> None:
    """The audit trail endpoint (when it exists) and `sessions cleanup` under read load."""
    with servers.portal(run.db.env(), 2, run.logs / "portal-scale.log") as server:
        path = scenarios.read_path(server.url)
        if scenarios.has_path(server.url, scenarios.AUDIT_PATH):
            run.results["audit_logs"] = scenarios.audit_logs(run, server, tokens)
            run.rss["portal 2w after audit-logs"] = server.rss_mib()
        else:
            run.results["audit_logs"] = "endpoint not in this build"
        before = scenarios.authenticated_read(run, server, tokens, path)
        run.results["cleanup"] = scenarios.cleanup_under_load(run, server, tokens, path)
        run.results["cleanup"]["read_p99_ms_before"] = round(before.p99_ms, 1)
        run.rss["portal 2w after cleanup"] = server.rss_mib()
    if run.results["audit_logs"] != "endpoint not in this build":
        run.results["audit_logs"]["plan"] = scenarios.audit_logs_plan(run, tokens)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    ensure_wrk()
    run_logs = Path(tempfile.mkdtemp(prefix="pe-portal-bench-logs-"))
    with bench_database() as db:
        run = Run(db, args.seconds, args.connections, run_logs)
        run.results["machine"] = report.machine()
        seed(run, args)
        worker_counts = [int(part) for part in args.workers.split(",")]
        run.results["mfa"] = (
            {} if args.skip_mfa else {f"{w} workers": mfa.figures(run, w) for w in worker_counts}
        )
        if not args.only_mfa:
            tokens = None
            for workers in worker_counts:
                tokens = per_workers(run, workers, tokens)
            assert tokens is not None
            at_scale(run, tokens)
    if not args.only_mfa:
        report.show(run)
    if run.results["mfa"]:
        mfa.show(run.results["mfa"])
    if args.json:
        args.json.write_text(json.dumps(report.plain(run), indent=2, default=str))
    print(f"\nserver logs: {run_logs}  ({platform.node()})")


if __name__ == "__main__":
    main(sys.argv[1:])
