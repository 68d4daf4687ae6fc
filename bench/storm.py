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
import time
from pathlib import Path
from statistics import median
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
    parser.add_argument("--rounds", type=int, default=3, help="phase rounds per server")
    parser.add_argument("--repeat", type=int, default=1, help="the whole matrix again")
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


SETTLE = 2.0  # seconds


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _ticks(stat: Path) -> int:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _machine_busy() -> int:
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in cpu]
    return sum(values) - values[3] - values[4]  # all but idle and iowait


def cpu_split(server: servers.Server, postmaster: int) -> dict[str, int]:
    """CPU ticks so far: the workers' event-loop threads, their other (hashing) threads, the
    database's processes, and the whole machine (the rest: load generators, other work)."""
    loops = other = 0
    for pid in server.worker_pids():
        for task in Path(f"/proc/{pid}/task").iterdir():
            used = _ticks(task / "stat")
            if int(task.name) == pid:
                loops += used
            else:
                other += used
    database = _ticks(Path(f"/proc/{postmaster}/stat")) + sum(
        _ticks(Path(f"/proc/{pid}/stat")) for pid in servers._descendants(postmaster)
    )
    return {"loops": loops, "hashing": other, "database": database, "machine": _machine_busy()}


def cores_used(before: dict[str, int], after: dict[str, int], seconds: float) -> dict[str, float]:
    ticks = os.sysconf("SC_CLK_TCK") * seconds
    used = {key: round((after[key] - before[key]) / ticks, 2) for key in before}
    used["rest"] = round(used["machine"] - used["loops"] - used["hashing"] - used["database"], 2)
    return used


def _postmaster(run: Run) -> int:
    return int((run.db.cluster.data_dir / "postmaster.pid").read_text().split()[0])


def one(
    run: Run, code: Path, workers: int, share: str | None, first: int, rounds: int
) -> dict[str, Any]:
    """Read alone, storm alone, storm during reads, `rounds` times in turn on one server (a
    shared machine's other work then weighs on each phase alike); the medians."""
    extra = {"SIGN_IN_CPU_SHARE": share} if share else {}
    log = run.logs / f"{code.name}-{workers}w-{share}-{first}.log"
    phases: dict[str, list[Any]] = {"read": [], "storm": [], "both_read": [], "both": []}
    cpu: dict[str, list[dict[str, float]]] = {"read": [], "storm": [], "both": []}
    with servers.portal(run.db.env(**extra), workers, log, code) as server:
        tokens = scenarios.sign_in(server.url, 64, first=first)
        path = scenarios.read_path(server.url)
        scenarios.warm_up(server, tokens.access, path)
        emails = [demo_email(index) for index in range(first + 100, first + 1100)]
        load_before, postmaster = _loadavg(), _postmaster(run)
        for _ in range(rounds):
            # A pause before each phase: what one phase queued does not run in the next.
            time.sleep(SETTLE)
            mark = cpu_split(server, postmaster)
            phases["read"].append(scenarios.authenticated_read(run, server, tokens, path))
            _note(cpu["read"], mark, server, postmaster, phases["read"][-1].seconds)
            time.sleep(SETTLE)
            mark = cpu_split(server, postmaster)
            phases["storm"].append(scenarios.login(run, server, emails))
            _note(cpu["storm"], mark, server, postmaster, phases["storm"][-1].seconds)
            time.sleep(SETTLE)
            mark = cpu_split(server, postmaster)
            reads, storm = scenarios.read_during_storm(run, server, tokens, path, emails)
            phases["both_read"].append(reads)
            phases["both"].append(storm)
            _note(cpu["both"], mark, server, postmaster, storm.seconds)
        load_after = _loadavg()
    read_rps = median(r.rps for r in phases["read"])
    read_p99 = median(r.p99_ms for r in phases["read"])
    alone = median(r.ok_per_second() for r in phases["storm"])
    during = median(r.ok_per_second() for r in phases["both"])
    storm_p99 = median(r.p99_ms for r in phases["both_read"])
    return {
        "code": str(code), "workers": workers, "share": share or "default", "rounds": rounds,
        "read_rps": round(read_rps), "read_p99_ms": round(read_p99, 1),
        "storm_alone_ok_per_s": round(alone, 2), "storm_ok_per_s": round(during, 2),
        "storm_read_rps": round(median(r.rps for r in phases["both_read"])),
        "storm_read_p99_ms": round(storm_p99, 1),
        "sign_in_ratio": _ratio(during, alone), "p99_ratio": _ratio(storm_p99, read_p99),
        "per_round": {
            "sign_in_ratio": [_ratio(b.ok_per_second(), s.ok_per_second())
                              for b, s in zip(phases["both"], phases["storm"], strict=True)],
            "p99_ratio": [_ratio(b.p99_ms, r.p99_ms)
                          for b, r in zip(phases["both_read"], phases["read"], strict=True)],
        },
        "statuses": {"storm": [r.statuses for r in phases["storm"]],
                     "both": [r.statuses for r in phases["both"]]},
        "loadavg": f"{load_before} -> {load_after}",
        "cores": {name: {key: round(median(m[key] for m in marks), 2) for key in marks[0]}
                  for name, marks in cpu.items()},
    }  # fmt: skip


def _note(
    into: list[dict[str, float]], mark: dict[str, int], server: servers.Server, postmaster: int,
    seconds: float,
) -> None:  # fmt: skip
    into.append(cores_used(mark, cpu_split(server, postmaster), seconds))


def _ratio(value: float, reference: float) -> float:
    return round(value / reference, 2) if reference else 0.0


def _show(row: dict[str, Any]) -> None:
    print(
        f"{Path(row['code']).name:<12} {row['workers']}w share {row['share']:<7} "
        f"storm alone {row['storm_alone_ok_per_s']:>5} /s  during reads {row['storm_ok_per_s']:>5} /s "
        f"(ratio {row['sign_in_ratio']}, target >= 0.50)  read p99 {row['read_p99_ms']} -> "
        f"{row['storm_read_p99_ms']} ms (ratio {row['p99_ratio']}, target <= 3.0)  "
        f"reads {row['read_rps']} -> {row['storm_read_rps']} req/s  load {row['loadavg']}\n"
        f"    per round {row['per_round']}",
        flush=True,
    )
    for phase, used in row["cores"].items():
        print(f"    cores used, {phase:<5} {used}", flush=True)


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
        for _ in range(args.repeat):
            for workers in (int(w) for w in args.workers.split(",")):
                for share in shares:
                    for code in codes:
                        row = one(run, code, workers, share, first, args.rounds)
                        first = (first + 1200) % max(args.users - 1200, 1)
                        rows.append(row)
                        _show(row)
    print(f"nproc {os.cpu_count()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
