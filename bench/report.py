"""Printing a run: the machine, each scenario's figures, the ratios against their targets."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, is_dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.load import LoadResult
from bench.scenarios import Run


def machine() -> dict[str, str]:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), "?")
    postgres = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgresql": postgres.strip(),
        "wrk": wrk.splitlines()[0] if wrk else "?",
        **{
            name: version(name)
            for name in ("fastapi", "uvicorn", "sqlalchemy", "asyncpg", "bcrypt")
        },
    }


def _line(name: str, result: LoadResult, extra: str = "") -> str:
    errors = {key: value for key, value in result.errors.items() if value}
    return (
        f"  {name:<34} {result.rps:>8.0f} req/s  p50 {result.p50_ms:>7.1f} ms  "
        f"p99 {result.p99_ms:>7.1f} ms  {extra}{'  errors ' + str(errors) if errors else ''}"
    )


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}" if reference else "n/a"


def _workers(name: str, figures: dict[str, Any]) -> None:
    read, base = figures["read"], figures["baseline"]
    login, storm_read, storm_login = figures["login"], figures["storm_read"], figures["storm_login"]
    refresh, bcrypt_rate = figures["refresh"], figures["bcrypt_baseline_per_s"]
    print(f"\n{name}  (authenticated read = GET {figures['read_path']})")
    print(_line("baseline (asyncpg PK SELECT)", base))
    print(_line("authenticated read", read))
    print(f"    ratio req/s {_ratio(read.rps, base.rps)} (target >= 0.70)   "
          f"ratio p99 {_ratio(read.p99_ms, base.p99_ms)} (target <= 2.0)")  # fmt: skip
    if "baseline_none" in figures:
        print(_line("bare endpoint (no I/O)", figures["baseline_none"]))
        print(f"    authenticated read / bare {_ratio(read.rps, figures['baseline_none'].rps)}")
    print(_line("refresh", refresh, f"statuses {refresh.statuses}"))
    print(f"    ratio vs authenticated read {_ratio(refresh.ok_per_second(), read.rps)} "
          "(target >= 0.40)")  # fmt: skip
    if "baseline_refresh" in figures:
        ceiling = figures["baseline_refresh"]
        print(_line("bare rotation statement", ceiling, f"statuses {ceiling.statuses}"))
        print(f"    refresh / bare rotation {_ratio(refresh.ok_per_second(), ceiling.ok_per_second())}"
              " (target >= 0.80)")  # fmt: skip
    print(f"  bcrypt.checkpw cost 12 baseline  {bcrypt_rate:>8.1f} /s")
    print(_line("login (64 connections)", login, f"statuses {login.statuses}"))
    print(f"    logins/s {login.ok_per_second():.1f}, ratio {_ratio(login.ok_per_second(), bcrypt_rate)}"
          " (target >= 0.90)")  # fmt: skip
    print(_line("authenticated read during storm", storm_read))
    print(_line("  the storm itself", storm_login, f"statuses {storm_login.statuses}"))
    print(f"    sign-ins/s during reads {storm_login.ok_per_second():.2f} vs alone "
          f"{login.ok_per_second():.2f}: {_ratio(storm_login.ok_per_second(), login.ok_per_second())}"
          " (target >= 0.50)")  # fmt: skip
    print(f"    p99 ratio storm/no storm {_ratio(storm_read.p99_ms, read.p99_ms)} (target <= 3.0)")


def show(run: Run) -> None:
    results = run.results
    print("\n=== pe-portal benchmarks ===")
    for key, value in results["machine"].items():
        print(f"  {key:<12} {value}")
    print(f"  seed         {results['seed']}")
    for name, figures in results.items():
        if name.endswith("workers"):
            _workers(name, figures)
    print("\naudit trail:")
    audit = results["audit_logs"]
    if isinstance(audit, dict):
        for key, value in audit.items():
            print(_line(f"audit-logs {key}", value) if isinstance(value, LoadResult) else value)
    else:
        print(f"  {audit}")
    cleanup = results["cleanup"]
    print(f"\nsessions cleanup under read load: {cleanup}")
    print("\nRSS per worker (MiB, target <= 150 under load):")
    for key, value in run.rss.items():
        print(f"  {key:<32} {value}")


def plain(run: Run) -> dict[str, Any]:
    """The results as JSON-friendly data."""

    def convert(value: Any) -> Any:
        if is_dataclass(value) and not isinstance(value, type):
            return {**asdict(value), "rps": round(value.rps, 1)}  # type: ignore[attr-defined]
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        return value

    return {"results": convert(run.results), "rss_mib": run.rss}
