"""`python -m bench.audit`: the audit trail over years (issue 16), on its own throwaway database.

Seeds `--audit-rows` rows over `--months` months with `pe-portal db seed-demo`, seals them, then
measures: `audit verify` (rows/s); the own trail's first page (p99, wrk) and how many partitions
a 7-day query touches; the studio's search p99 (overall and per term) beside the same search
by ILIKE without an index; retention of one month side by side — `DELETE …
WHERE created_at < …` against archive + detach, by the server's schedule and by the CLI — with
time, WAL written and the authenticated-read p99 during each; login and refresh rates with the
server sealing every second and not at all.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from bench import report, scenarios, servers
from bench.cluster import BenchDatabase, bench_database
from bench.load import LoadResult, ensure_wrk, run_wrk
from bench.scenarios import Run
from pe_portal import process
from pe_portal.audit import service as audit
from pe_portal.ops.seed import demo_email


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--audit-rows", type=int, default=1_000_000, help="the issue's: 10 000 000")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=10.0, help="per load scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--retention-connections", type=int, default=8,
        help="reads during retention: a saturated server starves the archive's nice-19 process",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def _cli(run: Run, *args: str, env: dict[str, str] | None = None) -> float:
    """Run `pe-portal …` to completion; its wall time in seconds (the log keeps its output)."""
    started = time.monotonic()
    name = "-".join(args[:2])
    with (run.logs / f"{name}.log").open("ab") as log:
        subprocess.run(
            [sys.executable, "-m", "pe_portal.cli", *args],
            env=env or run.db.env(), stdout=log, stderr=log, check=True,
        )  # fmt: skip
    return time.monotonic() - started


def _scalar(db: BenchDatabase, sql: str) -> str:
    return db.psql(sql).strip()


def seed_and_seal(run: Run, args: argparse.Namespace, env: dict[str, str]) -> None:
    seconds = _cli(run, "db", "seed-demo", "--users", str(args.users),
                   "--audit-rows", str(args.audit_rows), "--audit-months", str(args.months),
                   env=env)  # fmt: skip
    for table in ("users", "audit_logs", "audit_unsealed"):
        run.db.psql(f"VACUUM (ANALYZE) {table}")
    run.db.psql("CHECKPOINT")
    sealed = _cli(run, "audit", "seal", env=env)
    rows = int(_scalar(run.db, "SELECT count(*) FROM audit_logs"))
    run.results["seed"] = {"rows": rows, "users": args.users, "months": args.months,
                           "seed_seconds": round(seconds, 1)}  # fmt: skip
    run.results["seal"] = {"seconds": round(sealed, 1), "rows_per_s": round(rows / sealed)}


def verify(run: Run, env: dict[str, str], key: str = "verify") -> None:
    rows = int(_scalar(run.db, "SELECT count(*) FROM audit_logs"))
    seconds = _cli(run, "audit", "verify", env=env)
    run.results[key] = {"rows": rows, "seconds": round(seconds, 1),
                             "rows_per_s": round(rows / seconds)}  # fmt: skip


def partitions_touched(run: Run, user_id: str) -> dict[str, int]:
    """Partitions a plan reads (not "never executed") for a 7-day window and for since-only."""
    week = (
        "SELECT id FROM audit_logs WHERE user_id = '{u}' AND created_at >= {lo} {hi}"
        " ORDER BY created_at DESC, id DESC LIMIT 51"
    )
    out = {}
    for name, lo, hi in (
        ("7 days, since and until", "now() - interval '7 days'", "AND created_at < now()"),
        ("7 days, since only", "now() - interval '7 days'", ""),
    ):
        plan = run.db.psql("EXPLAIN (ANALYZE, COSTS OFF) " + week.format(u=user_id, lo=lo, hi=hi))
        out[name] = sum(
            1 for line in plan.splitlines()
            if " on audit_logs_" in line and "never executed" not in line
        )  # fmt: skip
    return out


_SEARCH_TERMS = ["10.12.", "10.200.3", "Firefox", "Safari/605", "iPhone", "timezone", "sessionId"]


def _quantiles(timings: list[float]) -> dict[str, float]:
    quantiles = statistics.quantiles(timings, n=100)
    return {"p50_ms": round(quantiles[49], 2), "p99_ms": round(quantiles[98], 2)}


# The comparison query is cut off here: at 10 M rows a term without the indexes takes tens of
# seconds to minutes (run N).
_COMPARISON_TIMEOUT_S = 30


async def _search_p99(dsn: str, sql: str, terms: list[str], *, indexes: bool) -> dict[str, float]:
    """p50/p99 of `sql` over `terms`; a query cut off at the timeout counts as that long."""
    connection = await asyncpg.connect(dsn)
    timings, cut_off = [], 0
    try:
        await connection.execute(f"SET statement_timeout = '{_COMPARISON_TIMEOUT_S}s'")
        if not indexes:
            await connection.execute("SET enable_bitmapscan = off; SET enable_indexscan = off")
        for term in terms:
            started = time.perf_counter()
            try:
                await connection.fetch(sql, f"%{term}%", term)
            except asyncpg.QueryCanceledError:
                cut_off += 1
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await connection.close()
    return {**_quantiles(timings), "cut_off_at_timeout": cut_off}


async def _studio_search(url: str, terms: list[str]) -> dict[str, Any]:
    """The studio's own search (the audit service: newest rows in order, then the indexes), a
    page of 50, run in this process as the studio runs it: a session per search, the studio
    process's garbage-collector settings. Each term is searched once first, reported apart, as
    the other scenarios warm up: a connection's first look at the trail's partitions loads
    their catalogue entries (run O: 26-75 ms of planning then, 6 ms after)."""
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    by_term: dict[str, list[float]] = {}
    first: dict[str, float] = {}
    try:
        for term in sorted(set(terms)):
            first[term] = await _timed_search(engine, term)
        process.tune_garbage_collector()  # as the studio does once started
        for term in terms:
            by_term.setdefault(term, []).append(await _timed_search(engine, term))
    finally:
        await engine.dispose()
    overall = _quantiles([ms for timings in by_term.values() for ms in timings])
    by_term_figures = {t: _quantiles(ms) for t, ms in sorted(by_term.items())}
    return {**overall, "by term": by_term_figures, "first search of each term (ms)": first}


async def _timed_search(engine: AsyncEngine, term: str) -> float:
    """Milliseconds for one studio search of `term`, in a session of its own (as a page is)."""
    started = time.perf_counter()
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await audit.search_rows(session, term=term, offset=0, limit=50)
    return round((time.perf_counter() - started) * 1000, 1)


def search(run: Run) -> dict[str, Any]:
    """The studio's audit search (IP, agent, words of details), 50 rows, as the studio runs it,
    beside the same search by ILIKE without an index (each term once: it reads every row)."""
    sql = (
        "SELECT id FROM audit_logs WHERE ip_address ILIKE $1 OR user_agent ILIKE $1"
        " OR to_tsvector('simple'::regconfig, coalesce(details, '{}'::jsonb))"
        " @@ plainto_tsquery('simple'::regconfig, $2) ORDER BY created_at DESC LIMIT 50"
    )
    rng = random.Random(16)
    terms = [rng.choice(_SEARCH_TERMS) for _ in range(200)]
    dsn = run.db.urls.migration
    studio = asyncio.run(_studio_search(run.db.urls.app, terms))
    plain = asyncio.run(_search_p99(dsn, sql, _SEARCH_TERMS, indexes=False))
    users = asyncio.run(_user_search(dsn, rng))
    return {
        "audit, the studio's search": studio,
        "audit, ILIKE without index": plain,
        **users,
    }


async def _user_search(dsn: str, rng: random.Random) -> dict[str, Any]:
    expression = "coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || email"
    sql = f"SELECT id FROM users WHERE ({expression}) ILIKE $1 OR $2 <% ({expression}) LIMIT 50"  # noqa: S608
    terms = [demo_email(rng.randrange(1, 20_000)).split("@")[0] for _ in range(200)]
    return {"users (trigram)": await _search_p99(dsn, sql, terms, indexes=True)}


def _under_reads(
    run: Run, server: servers.Server, tokens: list[str], work: Callable[[], None]
) -> dict[str, Any]:
    """`work` in a thread while 5-s windows of authenticated reads run; its time and the p99s."""
    done = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as error:  # reported by the caller, not lost in the thread
            errors.append(error)
        finally:
            done.set()

    wal_before = _scalar(run.db, "SELECT pg_current_wal_lsn()")
    started = time.monotonic()
    thread = threading.Thread(target=target)
    thread.start()
    windows: list[LoadResult] = []
    while not done.is_set():
        windows.append(run_wrk(server.url, "read.lua", tokens, seconds=5,
                               connections=run.connections, env={"BENCH_PATH": scenarios.ME_PATH}))  # fmt: skip
    thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise errors[0]
    wal = _scalar(run.db, f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{wal_before}')")
    return {
        "seconds": round(elapsed, 1),
        "wal_mib": round(float(wal) / 2**20, 1),
        "read_p99_ms_windows": [round(w.p99_ms, 1) for w in windows],
        "read_p99_ms_worst": round(max(w.p99_ms for w in windows), 1),
    }


def _months_before_now(month: str) -> int:
    """How many months `month` (YYYY-MM) lies before the current one: a retention that makes
    it the oldest month kept."""
    year, number = (int(part) for part in month.split("-"))
    today = time.gmtime()
    return (today.tm_year * 12 + today.tm_mon) - (year * 12 + number)


def _wait_until_dropped(db: BenchDatabase, month: str, timeout: float = 1800.0) -> None:
    """Until the month's partition is gone: archived, checked, detached and dropped."""
    table = f"audit_logs_y{month[:4]}m{month[5:]}"
    deadline = time.monotonic() + timeout
    while _scalar(db, f"SELECT to_regclass('{table}') IS NULL") != "t":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{table} was not archived in {timeout:.0f} s")
        time.sleep(1)


def _scheduled_archive(
    run: Run, env: dict[str, str], tokens: list[str], month: str, keep_from: str, archive: Path
) -> dict[str, Any]:
    """The server's own retention (the default path once AUDIT_RETENTION_MONTHS and
    AUDIT_ARCHIVE_DIR are set): a server started with them archives `month` at start; reads go
    to that server until the partition is dropped, then once more after."""
    retained = {**env, "AUDIT_RETENTION_MONTHS": str(_months_before_now(keep_from)),
                "AUDIT_ARCHIVE_DIR": str(archive)}  # fmt: skip
    with servers.portal(retained, 2, run.logs / "portal-retention.log") as server:
        during = _under_reads(run, server, tokens, lambda: _wait_until_dropped(run.db, month))
        after = run_wrk(server.url, "read.lua", tokens, seconds=run.seconds,
                        connections=run.connections, env={"BENCH_PATH": scenarios.ME_PATH})  # fmt: skip
    return {**during, "read_p99_ms_after": round(after.p99_ms, 1)}


def retention(
    run: Run, server: servers.Server, tokens: list[str], env: dict[str, str], archive: Path
) -> dict[str, Any]:
    """The three oldest months: the first by DELETE, the second by the server's scheduled
    archive, the third by `pe-portal audit archive` (a process of its own)."""
    months = _scalar(
        run.db,
        "SELECT string_agg(to_char(m, 'YYYY-MM'), ',' ORDER BY m) FROM (SELECT DISTINCT"
        " date_trunc('month', created_at) m FROM audit_logs ORDER BY 1 LIMIT 4) s",
    ).split(",")
    first, second, third, fourth = months
    count = (
        "SELECT count(*) FROM audit_logs WHERE created_at >= date '{0}-01'"
        " AND created_at < date '{0}-01' + interval '1 month'"
    )
    rows = {month: int(_scalar(run.db, count.format(month))) for month in months[:3]}
    idle = run_wrk(server.url, "read.lua", tokens, seconds=run.seconds,
                   connections=run.connections, env={"BENCH_PATH": scenarios.ME_PATH})  # fmt: skip

    def delete() -> None:
        run.db.psql(
            "SET pe_portal.audit_retention = 'on'; DELETE FROM audit_logs"  # noqa: S608 - our month
            f" WHERE created_at < date '{first}-01' + interval '1 month'"
        )

    def archive_month() -> None:
        _cli(run, "audit", "archive", "--before", fourth, "--to", str(archive), env=env)

    by_delete = _under_reads(run, server, tokens, delete)
    by_schedule = _scheduled_archive(run, env, tokens, second, third, archive)
    by_cli = _under_reads(run, server, tokens, archive_month)
    return {
        "read_p99_ms_idle": round(idle.p99_ms, 1),
        f"DELETE {first} ({rows[first]:,} rows)": by_delete,
        f"scheduled archive in the server, {second} ({rows[second]:,} rows)": by_schedule,
        f"archive + detach by the CLI, {third} ({rows[third]:,} rows)": by_cli,
    }


def sealing_cost(run: Run, env: dict[str, str], users: int) -> dict[str, Any]:
    """Logins and refreshes per second with the server sealing every second, and never."""
    figures: dict[str, Any] = {}
    for label, interval in (("sealing off", "0"), ("sealing every 1 s", "1"), ("off again", "0")):
        with servers.portal({**env, "AUDIT_SEAL_INTERVAL": interval}, 1,
                            run.logs / f"portal-seal-{interval}.log") as server:  # fmt: skip
            offset = max(0, min(3000 + len(figures) * 250, users - 250))
            emails = [demo_email(i) for i in range(offset, offset + 150)]
            login = scenarios.login(run, server, emails)
            fresh = scenarios.sign_in(server.url, 64, first=offset + 150)
            refresh = scenarios.refresh(run, server, fresh)
            figures[label] = {"logins_per_s": round(login.ok_per_second(), 1),
                              "refresh_per_s": round(refresh.ok_per_second(), 1),
                              "refresh_p99_ms": round(refresh.p99_ms, 1)}  # fmt: skip
    return figures


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    ensure_wrk()
    logs = Path(tempfile.mkdtemp(prefix="pe-portal-bench-audit-"))
    with bench_database() as db:
        run = Run(db, args.seconds, args.connections, logs)
        env = db.env(AUDIT_SEAL_KEY_DIR=str(db.scratch / "seal"), AUDIT_SEAL_INTERVAL="0")
        run.results["machine"] = report.machine()
        seed_and_seal(run, args, env)
        verify(run, env)
        with servers.portal(env, 2, logs / "portal.log") as server:
            tokens = scenarios.sign_in(server.url, 64)
            scenarios.warm_up(server, tokens.access, scenarios.AUDIT_PATH)
            trail = scenarios.audit_logs(run, server, tokens)
            run.results["own_trail_first_page"] = {
                key: {"rps": round(r.rps), "p50_ms": round(r.p50_ms, 1), "p99_ms": round(r.p99_ms, 1)}
                for key, r in trail.items()
            }  # fmt: skip
            run.results["partitions_touched"] = partitions_touched(run, tokens.user_ids[0])
            run.results["search"] = search(run)
            # Reads that leave the machine headroom: under saturating reads the archive's
            # CPU work (nice 19, by design) all but stops and a month never finishes (run O).
            reads = dataclasses.replace(run, connections=args.retention_connections)
            run.results["retention"] = retention(
                reads, server, tokens.access, env, db.scratch / "archive"
            )
        archived = {**env, "AUDIT_ARCHIVE_DIR": str(db.scratch / "archive")}
        verify(run, archived, "verify_after_retention (one month from its file)")
        try:
            run.results["sealing_cost"] = sealing_cost(run, env, args.users)
        finally:
            text = json.dumps(run.results, indent=2, default=str)
            print(text)
            if args.json:
                args.json.write_text(text)
            print(f"\nlogs: {logs}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
