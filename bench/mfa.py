"""The second factor's figures (issue 14): GET /users/me with aal2 tokens against aal1 tokens in
the same run, and the two-step sign-in's rate against the bcrypt baseline."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp

from bench import scenarios, servers
from bench.load import LoadResult
from bench.scenarios import Run, Tokens
from pe_portal.ops.seed import DEMO_PASSWORD, demo_email

_STEP = 30


@dataclass
class MfaUser:
    email: str
    secret: str
    last_step: int  # the last TOTP step used: the next sign-in needs a later one


def _now_step() -> int:
    return int(time.time()) // _STEP


async def _enrol(client: httpx.AsyncClient, access: str) -> tuple[str, int]:
    """A confirmed TOTP factor: its secret and the step its confirmation used (tried again
    when the step turned between computing the code and the server checking it)."""
    headers = {"Authorization": f"Bearer {access}"}
    started = (await client.post("/api/v1/auth/mfa/totp", headers=headers)).json()
    confirm = f"/api/v1/auth/mfa/totp/{started['factorId']}/confirm"
    for _ in range(3):
        step = _now_step()
        code = {"code": pyotp.TOTP(started["secret"]).generate_otp(step)}
        if (await client.post(confirm, json=code, headers=headers)).status_code == 200:
            return started["secret"], step
    raise RuntimeError("TOTP confirmation refused three times")


async def _password_step(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    body = {"email": email, "password": DEMO_PASSWORD}
    for _ in range(30):  # 503 "busy" while bcrypt is saturated: wait, as clients do
        response = await client.post("/api/v1/auth/login", json=body)
        if response.status_code != 503:
            break
        await asyncio.sleep(0.5)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


async def _two_step(client: httpx.AsyncClient, user: MfaUser) -> Any | None:
    """A sign-in with a step after the user's last one; None when none is acceptable yet.
    A user without a secret signs in with the password alone."""
    step = max(_now_step(), user.last_step + 1)
    if user.secret and step > _now_step() + 1:
        return None
    pending = await _password_step(client, user.email)
    if not user.secret:
        return pending
    code = pyotp.TOTP(user.secret).generate_otp(step)
    verified = await client.post(
        "/api/v1/auth/mfa/verify", json={"mfaToken": pending["mfaToken"], "code": code}
    )
    verified.raise_for_status()
    user.last_step = step
    return verified.json()


def enrolled_users(base_url: str, first: int, count: int) -> list[MfaUser]:
    """`count` demo users given a TOTP factor."""
    tokens = scenarios.sign_in(base_url, count, first=first)

    async def main() -> list[tuple[str, int]]:
        gate = asyncio.Semaphore(8)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

            async def one(access: str) -> tuple[str, int]:
                async with gate:
                    return await _enrol(client, access)

            return await asyncio.gather(*(one(access) for access in tokens.access))

    enrolled = asyncio.run(main())
    return [MfaUser(demo_email(first + i), *pair) for i, pair in enumerate(enrolled)]


def aal2_tokens(base_url: str, users: list[MfaUser]) -> Tokens:
    async def main() -> list[Any]:
        gate = asyncio.Semaphore(4)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

            async def one(user: MfaUser) -> Any:
                async with gate:
                    return await _two_step(client, user)

            return await asyncio.gather(*(one(user) for user in users))

    bodies = asyncio.run(main())
    return Tokens([b["user"]["id"] for b in bodies], [b["accessToken"] for b in bodies], [])


def sign_in_rate(base_url: str, users: list[MfaUser], seconds: float) -> dict[str, Any]:
    """Sign-ins completed within `seconds` by 16 concurrent clients (4 a core: bcrypt's
    admission keeps the rest waiting, not refused), round robin over `users`: two-step for
    users with a secret (each TOTP step is accepted once per user: one whose next step is not
    yet acceptable is passed over), password-only for the others."""
    queue = list(users)

    async def main() -> tuple[int, int]:
        done, failed, deadline = 0, 0, time.monotonic() + seconds
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

            async def worker() -> None:
                nonlocal done, failed
                while time.monotonic() < deadline:
                    user, signed_in = queue.pop(0), None
                    try:
                        signed_in = await _two_step(client, user)
                        done += signed_in is not None and time.monotonic() < deadline
                    except httpx.HTTPError:
                        failed += 1
                    queue.append(user)
                    if signed_in is None:
                        await asyncio.sleep(0.01)

            await asyncio.gather(*(worker() for _ in range(16)))
        return done, failed

    done, failed = asyncio.run(main())
    return {"sign_ins": done, "failed": failed, "per_s": round(done / seconds, 2)}


def figures(run: Run, workers: int) -> dict[str, Any]:
    """aal1 and aal2 reads of /users/me alternated on one server, then the two-step rate."""
    result: dict[str, Any] = {"bcrypt_baseline_per_s": scenarios.bcrypt_baseline(workers, 5)}
    first = 5000 + 1000 * workers  # demo users of their own: enrolled ones sign in in two steps
    with servers.portal(run.db.env(), workers, run.logs / f"portal-mfa-{workers}w.log") as server:
        aal1 = scenarios.sign_in(server.url, 64, first=first)
        aal2 = aal2_tokens(server.url, enrolled_users(server.url, first + 100, 64))
        scenarios.warm_up(server, aal1.access + aal2.access, scenarios.ME_PATH)
        reads: dict[str, LoadResult] = {}
        for name, tokens in (("aal1", aal1), ("aal2", aal2), ("aal1 again", aal1),
                             ("aal2 again", aal2)):  # fmt: skip
            reads[name] = scenarios.authenticated_read(run, server, tokens, scenarios.ME_PATH)
        result["reads"] = reads
        password_only = [MfaUser(demo_email(first + 400 + i), "", 0) for i in range(200)]
        result["password_only"] = sign_in_rate(server.url, password_only, 2 * run.seconds)
        two_step = enrolled_users(server.url, first + 200, 200)
        result["two_step"] = sign_in_rate(server.url, two_step, 2 * run.seconds)
    return result


def show(figures_by_workers: dict[str, dict[str, Any]]) -> None:
    print("\nsecond factor (GET /api/v1/users/me, aal1 vs aal2 tokens, same server):")
    for name, figures in figures_by_workers.items():
        print(f"  {name}")
        for label, read in figures["reads"].items():
            print(f"    {label:<12} {read.rps:>8.0f} req/s  p50 {read.p50_ms:>6.1f} ms  "
                  f"p99 {read.p99_ms:>6.1f} ms  errors {read.errors}")  # fmt: skip
        rate = figures["bcrypt_baseline_per_s"]
        print(f"    bcrypt.checkpw cost 12 baseline {rate:.2f}/s")
        for kind in ("password_only", "two_step"):
            print(f"    {kind:<14} {figures[kind]}  ratio to bcrypt "
                  f"{figures[kind]['per_s'] / rate:.2f}")  # fmt: skip
