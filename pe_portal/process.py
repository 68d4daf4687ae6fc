"""Settings of a long-running server process (the API's workers, the studio)."""

from __future__ import annotations

import gc


def tune_garbage_collector() -> None:
    """What start-up loaded lives as long as the process: frozen, it is out of the cyclic
    collector's reach, so a full collection scans only what requests create (unfrozen, each took
    ~90 ms, which was the read p99; in the studio's audit search, 60-80 ms). A request
    allocates a few hundred objects that reference counting frees; collecting every 700
    allocations mostly rescanned in-flight requests, so the youngest generation waits for
    20 000 (docs/benchmarks.md). Call it once start-up is done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
