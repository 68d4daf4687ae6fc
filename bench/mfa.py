"""The second factor's figures (issue 14): GET /users/me with aal2 tokens against aal1 tokens in
the same run, and the two-step sign-in's rate against the bcrypt baseline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pyotp

from bench import scenarios, servers
from bench.load import LoadResult
from bench.scenarios import Run, Tokens
from pe_portal.ops.seed import DEMO_PASSWORD, demo_email

_STEP = 30


def _code(secret: str, offset: int = 0) -> str:
    return pyotp.TOTP(secret).generate_otp(int(time.time()) // _STEP + offset)


async def _enrol(client: httpx.AsyncClient, access: str) -> str:
    """A confirmed TOTP factor; confirmed with the previous step's code, so that the current
    and the next step remain for sign-ins."""
    headers = {"Authorization": f"Bearer {access}"}
    started = (await client.post("/api/v1/auth/mfa/totp", headers=headers)).json()
    confirm = f"/api/v1/auth/mfa/totp/{started['factorId']}/confirm"
    code = {"code": _code(started["secret"], -1)}
    (await client.post(confirm, json=code, headers=headers)).raise_for_status()
    secret: str = started["secret"]
    return secret


async def _two_step(client: httpx.AsyncClient, email: str, secret: str, offset: int) -> Any:
    body = {"email": email, "password": DEMO_PASSWORD}
    for _ in range(30):  # 503 "busy" while bcrypt is saturated: wait, as clients do
        pending = await client.post("/api/v1/auth/login", json=body)
        if pending.status_code != 503:
            break
        await asyncio.sleep(0.5)
    pending.raise_for_status()
    token = {"mfaToken": pending.json()["mfaToken"], "code": _code(secret, offset)}
    verified = await client.post("/api/v1/auth/mfa/verify", json=token)
    verified.raise_for_status()
    return verified.json()


def enrolled_users(base_url: str, first: int, count: int) -> list[tuple[str, str]]:
    """(e-mail, TOTP secret) of `count` demo users given a factor."""
    tokens = scenarios.sign_in(base_url, count, first=first)

    async def main() -> list[str]:
        gate = asyncio.Semaphore(8)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

            async def one(access: str) -> str:
                async with gate:
                    return await _enrol(client, access)

            return await asyncio.gather(*(one(access) for access in tokens.access))

    secrets = asyncio.run(main())
    return [(demo_email(first + i), secret) for i, secret in enumerate(secrets)]


def aal2_tokens(base_url: str, users: list[tuple[str, str]]) -> Tokens:
    async def main() -> list[Any]:
        gate = asyncio.Semaphore(4)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

            async def one(email: str, secret: str) -> Any:
                async with gate:
                    return await _two_step(client, email, secret, 0)

            return await asyncio.gather(*(one(email, secret) for email, secret in users))

    bodies = asyncio.run(main())
    return Tokens([b["user"]["id"] for b in bodies], [b["accessToken"] for b in bodies], [])


def two_step_rate(base_url: str, users: list[tuple[str, str]], seconds: float) -> dict[str, Any]:
    """Two-step sign-ins (password, then a TOTP code) by 64 concurrent clients for `seconds`;
    each user signs in at most twice (this step, then the next one: a step is used once)."""
    queue = [(email, secret, offset) for offset in (0, 1) for email, secret in users]

    async def main() -> tuple[int, int]:
        done, failed, deadline = 0, 0, time.monotonic() + seconds
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

            async def worker() -> None:
                nonlocal done, failed
                while queue and time.monotonic() < deadline:
                    email, secret, offset = queue.pop(0)
                    try:
                        await _two_step(client, email, secret, offset)
                        done += 1
                    except httpx.HTTPError:
                        failed += 1

            await asyncio.gather(*(worker() for _ in range(64)))
        return done, failed

    started = time.monotonic()
    done, failed = asyncio.run(main())
    elapsed = time.monotonic() - started
    return {"sign_ins": done, "failed": failed, "seconds": round(elapsed, 1),
            "per_s": round(done / elapsed, 1), "exhausted": not queue}  # fmt: skip


def figures(run: Run, workers: int) -> dict[str, Any]:
    """aal1 and aal2 reads of /users/me alternated on one server, then the two-step rate."""
    result: dict[str, Any] = {"bcrypt_baseline_per_s": scenarios.bcrypt_baseline(workers, 5)}
    with servers.portal(run.db.env(), workers, run.logs / f"portal-mfa-{workers}w.log") as server:
        aal1 = scenarios.sign_in(server.url, 64, first=5000)
        aal2 = aal2_tokens(server.url, enrolled_users(server.url, 6000, 64))
        scenarios.warm_up(server, aal1.access + aal2.access, scenarios.ME_PATH)
        reads: dict[str, LoadResult] = {}
        for name, tokens in (("aal1", aal1), ("aal2", aal2), ("aal1 again", aal1),
                             ("aal2 again", aal2)):  # fmt: skip
            reads[name] = scenarios.authenticated_read(run, server, tokens, scenarios.ME_PATH)
        result["reads"] = reads
        result["two_step"] = two_step_rate(
            server.url, enrolled_users(server.url, 7000, 200), run.seconds
        )
    return result


def show(figures_by_workers: dict[str, dict[str, Any]]) -> None:
    print("\nsecond factor (GET /api/v1/users/me, aal1 vs aal2 tokens, same server):")
    for name, figures in figures_by_workers.items():
        print(f"  {name}")
        for label, read in figures["reads"].items():
            print(f"    {label:<12} {read.rps:>8.0f} req/s  p50 {read.p50_ms:>6.1f} ms  "
                  f"p99 {read.p99_ms:>6.1f} ms  errors {read.errors}")  # fmt: skip
        two_step, rate = figures["two_step"], figures["bcrypt_baseline_per_s"]
        print(f"    two-step sign-in {two_step}; bcrypt baseline {rate:.1f}/s; "
              f"ratio {two_step['per_s'] / rate:.2f}")  # fmt: skip
