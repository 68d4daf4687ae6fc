"""The hashing share and its admission: a sign-in beyond it is refused at once with 503 and a
`Retry-After` computed from the queue, on every path that checks or sets a password."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.auth import email_tokens
from pe_portal.config import Settings
from pe_portal.security import hashing
from pe_portal.web.app import create_app
from tests.auth.helpers import LOGIN, TOKEN, audit_rows, scalar
from tests.factories import PASSWORD, register, signed_in_user, unique_email
from tests.mfa.helpers import code_now, enrol_totp, next_step, password_step, verify

NEW = "a completely new passphrase"


@contextlib.asynccontextmanager
async def _all_turns_taken() -> AsyncIterator[hashing.Capacity]:
    """Every hashing turn of this process held by other (idle) sign-ins until the block ends."""
    capacity = hashing.capacity()
    release = asyncio.Event()
    holding = asyncio.Semaphore(0)

    async def hold() -> None:
        async with hashing.admitted():
            holding.release()
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(capacity.plan.turns)]
    for _ in holders:
        await holding.acquire()
    try:
        yield capacity
    finally:
        release.set()
        await asyncio.gather(*holders)


@pytest.fixture
def slow_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turns measured at 10 s each: with every turn held, the next would wait 10 s / turns,
    beyond the max wait (shortened: a refusal is answered when the max wait is over)."""
    capacity = hashing.capacity()
    monkeypatch.setattr(capacity, "mean_turn", 10.0)
    monkeypatch.setattr(capacity, "max_wait", 0.05)
    monkeypatch.setattr(capacity, "took", lambda seconds: None)  # idle holders teach nothing


def _expected_retry_after(capacity: hashing.Capacity) -> str:
    """The next in the queue (every turn held): 1 place x the mean turn / the turns."""
    return str(math.ceil(capacity.mean_turn / capacity.plan.turns))


def assert_busy(response: httpx.Response, capacity: hashing.Capacity) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "busy"
    assert response.headers["retry-after"] == _expected_retry_after(capacity)
    assert response.json()["error"]["details"] == {
        "retryAfter": int(response.headers["retry-after"])
    }


# The rule itself -------------------------------------------------------------------------------


def test_the_plan_splits_the_share_of_the_cores_over_the_workers() -> None:
    one = hashing.plan(share=0.5, cores=2, workers=1)
    assert one == hashing.Plan(budget=1.0, threads=1, duty=1.0, turns=2)
    two = hashing.plan(share=0.5, cores=2, workers=2)
    assert (two.budget, two.threads, two.duty) == (0.5, 1, 0.5)
    # A thread per core of budget (or part of one), each paced to its part.
    for share, cores, workers in [(0.35, 2, 1), (0.65, 2, 1), (1.0, 8, 3), (0.05, 1, 1)]:
        part = hashing.plan(share=share, cores=cores, workers=workers)
        assert part.budget <= part.threads < part.budget + 1
        assert part.threads * part.duty * workers == pytest.approx(share * cores)
        assert part.turns == 2 * part.threads


def _burn(seconds: bytes, _: bytes) -> bytes:
    deadline = time.thread_time() + float(seconds)
    while time.thread_time() < deadline:
        pass
    return b"done"


async def test_a_hashing_thread_answers_at_once_then_rests_for_its_duty() -> None:
    capacity = hashing.Capacity(hashing.Plan(budget=0.1, threads=1, duty=0.1, turns=2), 5.0)
    loop = asyncio.get_running_loop()
    try:
        started = time.monotonic()
        first = loop.create_future()
        capacity.executor.submit(hashing._paced, 0.1, first, _burn, b"0.02", b"")
        assert await first == b"done"
        answered = time.monotonic() - started
        second = loop.create_future()
        capacity.executor.submit(hashing._paced, 0.1, second, _burn, b"0.01", b"")
        await second
        both = time.monotonic() - started
    finally:
        capacity.executor.shutdown(wait=False)
    assert answered < 0.18  # the answer does not wait for the rest
    assert both >= 0.2  # 0.02 s of CPU at a duty of 0.1: the thread rested until 0.2 s


async def test_a_failing_hash_raises_in_its_caller() -> None:
    def refuse(_: bytes, __: bytes) -> bytes:
        raise ValueError("malformed")

    with pytest.raises(ValueError, match="malformed"):
        await hashing.run(refuse, b"", b"")


def test_the_wait_is_estimated_from_the_queue_and_the_measured_turns() -> None:
    capacity = hashing.Capacity(hashing.Plan(1.0, threads=2, duty=0.5, turns=4), max_wait=1.0)
    capacity.mean_turn = 0.5
    turns = hashing._Turns(asyncio.Semaphore(4))
    turns.held = 3
    assert capacity.estimated_wait(turns) == 0  # a turn is free
    turns.held, turns.waiting = 4, 5  # the newcomer is sixth in line: 6 x 0.5 s / 4
    assert capacity.estimated_wait(turns) == pytest.approx(0.75)
    for _ in range(30):
        capacity.took(2.0)  # the measured turns grow (the CPU is contended): so does the wait
    assert capacity.estimated_wait(turns) == pytest.approx(3.0, rel=0.01)
    assert capacity.busy(3.3, "estimate").retry_after == 4  # rounded up
    assert capacity.busy(0.2, "timeout").retry_after == 1  # never 0


def test_the_settings_size_the_app_for_its_part_of_the_machine(settings: Settings) -> None:
    try:
        shared = settings.model_copy(update={"sign_in_cpu_share": 0.5, "web_concurrency": 2})
        create_app(shared)
        cores = os.cpu_count() or 1
        assert hashing.capacity().plan == hashing.plan(share=0.5, cores=cores, workers=2)
    finally:
        create_app(settings)
    assert hashing.capacity().plan == hashing.plan(
        share=settings.sign_in_cpu_share, cores=os.cpu_count() or 1, workers=1
    )


async def test_a_sign_in_beyond_the_share_is_refused_and_records_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession, slow_turns: None
) -> None:
    email = unique_email()
    await register(client, email)

    async with _all_turns_taken() as capacity:
        started = time.monotonic()
        response = await client.post(LOGIN, json={"email": email, "password": "wrong!"})
        elapsed = time.monotonic() - started

    assert_busy(response, capacity)
    assert 0.05 <= elapsed < 0.5  # answered when the max wait is over, not queued
    assert capacity.turns().waiting == 0
    # Not an attempt: it neither counts toward a lock-out nor leaves an audit row.
    assert await audit_rows(db_session, "LOGIN_FAILED") == []


async def test_a_wait_longer_than_estimated_is_cut_at_the_max_wait(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email()
    await register(client, email)
    monkeypatch.setattr(hashing.capacity(), "max_wait", 0.2)
    monkeypatch.setattr(hashing.capacity(), "mean_turn", 0.1)  # the estimate: 0.025 s

    async with _all_turns_taken() as capacity:
        started = time.monotonic()
        response = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert 0.2 <= elapsed < 1.0
    assert capacity.turns().waiting == 0


async def test_a_waiting_sign_in_gets_its_turn(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)

    async with _all_turns_taken():
        waiting = asyncio.create_task(
            client.post(LOGIN, json={"email": email, "password": PASSWORD})
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()
    assert (await waiting).status_code == 200


async def test_each_sign_in_gives_its_turn_back(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)

    wrong = await client.post(LOGIN, json={"email": email, "password": "wrong " + PASSWORD})
    unknown = await client.post(LOGIN, json={"email": unique_email(), "password": PASSWORD})
    right = await client.post(LOGIN, json={"email": email, "password": PASSWORD})

    assert [wrong.status_code, unknown.status_code, right.status_code] == [401, 401, 200]
    async with asyncio.timeout(1), _all_turns_taken() as capacity:  # every turn is free again
        assert capacity.turns().waiting == 0


def _nice(native_id: int) -> int:
    # /proc/<pid>/task/<tid>/stat: the 19th field is the thread's nice value.
    stat = Path(f"/proc/{os.getpid()}/task/{native_id}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


async def test_hashing_threads_run_at_the_event_loops_priority() -> None:
    # Normal priority: the budget, not nice 19, keeps hashing from the reads' CPU.
    await hashing.run(lambda a, b: a + b, b"a", b"b")

    hashing_threads = [t for t in threading.enumerate() if t.name.startswith("bcrypt")]
    assert hashing_threads
    assert {_nice(t.native_id or 0) for t in hashing_threads} == {_nice(threading.get_native_id())}


async def test_metrics_show_the_queue_waits_and_refusals(
    client: httpx.AsyncClient, slow_turns: None
) -> None:
    email = unique_email()
    await register(client, email)
    async with _all_turns_taken():
        await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    text = (await client.get("/metrics")).text
    assert "pe_portal_sign_in_queue " in text
    assert "pe_portal_sign_in_wait_seconds_count" in text
    assert 'pe_portal_sign_in_refused_total{reason="estimate"}' in text


# Every path that checks or sets a password -----------------------------------------------------


async def test_oauth_password_grant_is_refused_in_rfc_6749_shape(
    client: httpx.AsyncClient, slow_turns: None
) -> None:
    email = unique_email()
    await register(client, email)
    form = {"grant_type": "password", "username": email, "password": PASSWORD}
    async with _all_turns_taken() as capacity:
        response = await client.post(TOKEN, data=form)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "error_description" in response.json()
    assert response.headers["retry-after"] == _expected_retry_after(capacity)
    assert response.headers["cache-control"] == "no-store"


async def test_registration_is_refused(client: httpx.AsyncClient, slow_turns: None) -> None:
    body = {"email": unique_email(), "password": PASSWORD}
    async with _all_turns_taken() as capacity:
        response = await client.post("/api/v1/auth/register", json=body)
    assert_busy(response, capacity)


async def test_password_change_is_refused(client: httpx.AsyncClient, slow_turns: None) -> None:
    me = await signed_in_user(client)
    body = {"currentPassword": PASSWORD, "newPassword": NEW}
    async with _all_turns_taken() as capacity:
        response = await client.post("/api/v1/auth/password/change", json=body, headers=me.headers)
    assert_busy(response, capacity)


async def test_password_reset_is_refused(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, slow_turns: None
) -> None:
    me = await signed_in_user(client)
    stored = await scalar(db_session, "SELECT password FROM users WHERE id = :i", i=me.user["id"])
    purpose = email_tokens.Purpose.RESET_PASSWORD
    claims = email_tokens.Claims(
        me.user["id"], email_tokens.fingerprint(settings.secret_key, purpose, stored)
    )
    token = email_tokens.issue(settings.secret_key, purpose, claims)
    async with _all_turns_taken() as capacity:
        response = await client.post(
            "/api/v1/auth/password/reset", json={"token": token, "newPassword": NEW}
        )
    assert_busy(response, capacity)
    after = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "newPassword": NEW}
    )
    assert after.status_code == 200  # the link was not spent by the refusal


async def test_the_password_step_of_a_two_step_sign_in_is_refused(
    client: httpx.AsyncClient, slow_turns: None
) -> None:
    enrolled = await enrol_totp(client)
    body = {"email": enrolled.account.email, "password": PASSWORD}
    async with _all_turns_taken() as capacity:
        response = await client.post(LOGIN, json=body)
        form = {"grant_type": "password", "username": body["email"], "password": PASSWORD}
        oauth = await client.post(TOKEN, data=form)
    assert_busy(response, capacity)  # before any mfaToken is issued
    assert oauth.status_code == 503
    assert oauth.headers["retry-after"] == _expected_retry_after(capacity)


async def test_the_second_step_hashes_nothing_and_is_never_refused(
    client: httpx.AsyncClient, slow_turns: None
) -> None:
    # The password was checked (and paid for) in the first step: a sign-in half done finishes.
    enrolled = await enrol_totp(client)
    next_step()
    pending = await password_step(client, enrolled.account.email)
    async with _all_turns_taken():
        response = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret))
    assert response.status_code == 200, response.text


async def test_account_deletion_is_refused(client: httpx.AsyncClient, slow_turns: None) -> None:
    me = await signed_in_user(client)
    async with _all_turns_taken() as capacity:
        response = await client.request(
            "DELETE", "/api/v1/users/me", headers=me.headers, json={"password": PASSWORD}
        )
    assert_busy(response, capacity)
    assert (await client.get("/api/v1/users/me", headers=me.headers)).status_code == 200
