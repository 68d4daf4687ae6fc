"""`python -m bench.ab BEFORE AFTER`: the authenticated read and refresh of two checkouts (git
worktrees), on one seeded database, alternated round by round, so that a shared, noisy machine
weighs on both alike. Make the checkouts with `git worktree add /tmp/before <rev>`."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import servers
from bench.__main__ import settle
from bench.cluster import bench_database
from bench.load import ensure_wrk
from bench.scenarios import Run, authenticated_read, read_path, refresh, sign_in, warm_up


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--users", type=int, default=20_000)
    return parser.parse_args(argv)


def one_round(run: Run, code: Path, workers: int, first: int) -> dict[str, float]:
    log = run.logs / f"{code.name}-{first}.log"
    with servers.portal(run.db.env(), workers, log, code) as server:
        tokens = sign_in(server.url, 64, first=first)
        path = read_path(server.url)
        warm_up(server, tokens.access, path)
        fresh = sign_in(server.url, 64, first=first + 64)
        started = server.cpu_seconds()
        read = authenticated_read(run, server, tokens, path)
        between = server.cpu_seconds()
        rotation = refresh(run, server, fresh)
        ended = server.cpu_seconds()
    return {"read_rps": read.rps, "read_p99_ms": read.p99_ms,
            "read_cpu_us": (between - started) * 1e6 / max(read.requests, 1),
            "refresh_rps": rotation.rps, "refresh_p99_ms": rotation.p99_ms,
            "refresh_cpu_us": (ended - between) * 1e6 / max(rotation.requests, 1)}  # fmt: skip


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    ensure_wrk()
    figures: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    with bench_database() as db:
        run = Run(db, args.seconds, 64, Path(tempfile.mkdtemp(prefix="pe-portal-ab-")))
        subprocess.run(
            [sys.executable, "-m", "pe_portal.cli", "db", "seed-demo", "--users",
             str(args.users), "--audit-rows", "100000", "--expired-sessions", "10000"],
            env=db.env(), cwd=args.after, check=True, capture_output=True,
        )  # fmt: skip
        settle(run)
        for number in range(args.rounds):
            for label, code in (("before", args.before), ("after", args.after)):
                first = 200 * (2 * number + (label == "after"))
                figures[label].append(one_round(run, code.resolve(), args.workers, first))
                print(label, number, figures[label][-1], flush=True)
    for label, rounds in figures.items():
        medians = {key: round(statistics.median(r[key] for r in rounds), 1) for key in rounds[0]}
        print(f"median {label}: {medians}")


if __name__ == "__main__":
    main(sys.argv[1:])
