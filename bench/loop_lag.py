"""`python -m bench.loop_lag`: why the server's scheduled audit archive runs in a process of its
own (issue 16). An event loop ticks every millisecond and, at each tick, does a request's worth
of Python; its tick time is measured alone, beside a CPU-bound nice-19 *thread* doing the
archive's per-row work (canonical record, digest), and beside a nice-19 *process* doing the same.
A thread shares the loop's GIL, which a CPU-bound holder gives up only every switch interval
(5 ms), whatever its nice level; a process shares only the cores, which the kernel hands to the
loop first. Prints p50 / p99 / max of the tick in milliseconds for each."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from pe_portal.audit import canonical

_ROW: dict[str, Any] = {
    "id": "x" * 25, "user_id": "u" * 25, "action": "LOGIN", "resource": "AUTH",
    "details": {"sessionId": "s" * 25, "timezone": "Europe/Paris"}, "ip_address": "10.1.2.3",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "created_at": datetime(2026, 11, 3, 4, 5, 6, 123000, tzinfo=UTC),
}  # fmt: skip


def _archive_work(seconds: float) -> None:
    """What the archive does to every row, at the lowest priority, for `seconds`."""
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(100):
            canonical.row_digest(canonical.row_record(_ROW))


async def _ticks(seconds: float) -> dict[str, float]:
    took: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        for _ in range(20):  # a request's worth of Python
            canonical.row_digest(_ROW)
        took.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(took, n=100)
    return {
        "p50_ms": round(cuts[49], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(max(took), 2),
    }


async def measure(seconds: float) -> dict[str, dict[str, float]]:
    figures = {"alone": await _ticks(seconds)}
    thread = threading.Thread(target=_archive_work, args=(seconds + 1,))
    thread.start()
    figures["beside a nice-19 thread"] = await _ticks(seconds)
    thread.join()
    process = multiprocessing.get_context("spawn").Process(
        target=_archive_work, args=(seconds + 2,)
    )
    process.start()
    await asyncio.sleep(1)  # past the child's start
    figures["beside a nice-19 process"] = await _ticks(seconds)
    process.join()
    return figures


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loop_lag", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per condition")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    for number in range(1, args.rounds + 1):
        for condition, figures in asyncio.run(measure(args.seconds)).items():
            print(f"round {number}  {condition:26} {figures}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
