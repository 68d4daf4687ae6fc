"""`python -m bench.refresh`: issue 19's ratio alone — `POST /api/v1/auth/refresh` against the
bare rotation (`POST /baseline/refresh` in bench/baseline.py, the same statement), both servers
up on one seeded database with the same uvicorn settings, their chains run in turn round by
round (which one goes first alternates), so that a shared, noisy machine weighs on both alike.
Prints each round's figures and the median ratio per worker count.

The chains go on from run to run (each run starts from the tokens the previous one ended
with), so one sign-in per chain serves the whole benchmark: bcrypt stays out of the rounds."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench import servers
from bench.__main__ import seed
from bench.cluster import bench_database
from bench.load import LoadResult, run_refresh
from bench.scenarios import Run, sign_in

BASELINE_PATH = "/baseline/refresh"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.refresh", description=__doc__)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="per run of the chains")
    parser.add_argument("--connections", type=int, default=64, help="chains at once")
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--audit-rows", type=int, default=100_000)
    parser.add_argument("--expired-sessions", type=int, default=10_000)
    return parser.parse_args(argv)


class Chains:
    """The refresh chains of one server: run them, keep where they ended."""

    def __init__(self, tokens: list[str], path: str = "") -> None:
        self.tokens = tokens
        self.path = path

    def run(self, run: Run, server: servers.Server) -> tuple[LoadResult, float]:
        """One run: its figures and the server's CPU per request (µs)."""
        started = server.cpu_seconds()
        result = run_refresh(server.url, self.tokens, seconds=run.seconds, path=self.path)
        cpu_us = (server.cpu_seconds() - started) * 1e6 / max(result.requests, 1)
        if result.errors.get("status") or len(result.tokens) != len(self.tokens):
            raise RuntimeError(f"the refresh chains broke: {result.statuses}")
        self.tokens = result.tokens
        return result, cpu_us


def per_workers(run: Run, workers: int, rounds: int, app: Chains, bare: Chains) -> list[float]:
    """A warm-up run of each, then `rounds` rounds with `workers` workers; each round's ratio."""
    log = run.logs / f"refresh-{workers}w"
    with (
        servers.portal(run.db.env(), workers, log.with_suffix(".portal.log")) as portal,
        servers.baseline(run.db.env(), workers, log.with_suffix(".baseline.log")) as baseline,
    ):
        pairs = [("refresh", app, portal), ("bare", bare, baseline)]
        for _, chains, server in pairs:
            chains.run(run, server)
        ratios = []
        for number in range(rounds):
            figures = {
                name: chains.run(run, server)
                for name, chains, server in (pairs if number % 2 == 0 else pairs[::-1])
            }
            (real, real_cpu), (base, base_cpu) = figures["refresh"], figures["bare"]
            ratios.append(real.rps / base.rps)
            load = " ".join(f"{value:.2f}" for value in os.getloadavg())
            print(
                f"{workers} workers, round {number + 1}: refresh {real.rps:.0f} req/s (p99 "
                f"{real.p99_ms:.1f} ms, {real_cpu:.0f} µs CPU/req), bare {base.rps:.0f} req/s "
                f"(p99 {base.p99_ms:.1f} ms, {base_cpu:.0f} µs CPU/req): ratio "
                f"{ratios[-1]:.3f}; load average {load}",
                flush=True,
            )
    return ratios


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    with bench_database() as db:
        run = Run(db, args.seconds, args.connections, Path(tempfile.mkdtemp(prefix="pe-portal-")))
        seed(run, args)
        with servers.portal(db.env(), 1, run.logs / "sign-in.log") as portal:
            tokens = sign_in(portal.url, 2 * args.connections).refresh
        app, bare = (
            Chains(tokens[: args.connections]),
            Chains(tokens[args.connections :], BASELINE_PATH),
        )
        medians = {
            workers: statistics.median(per_workers(run, workers, args.rounds, app, bare))
            for workers in (int(part) for part in args.workers.split(","))
        }
    for workers, median in medians.items():
        print(f"median ratio, {workers} workers: {median:.3f} (target 0.80)")
    print(f"server logs: {run.logs}")


if __name__ == "__main__":
    main(sys.argv[1:])
