"""Password policy and bcrypt hashing (DESIGN 5), hashing always off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import TypeVar

import bcrypt
from zxcvbn import zxcvbn

from pe_portal.errors import InvalidInput, Unavailable

T = TypeVar("T")
BCRYPT_COST = 12
MAX_PASSWORD_BYTES = 72  # bcrypt reads no further; longer is refused, never truncated
_KNOWN_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")

# bcrypt releases the GIL, so a pool with a thread per core runs as many hashes as there are
# cores. Its threads run at the lowest CPU priority (nice 19): requests keep the CPU they need,
# and when nothing else runs bcrypt uses every core. Measured on 2 cores (docs/benchmarks.md):
# at nice 10 and 15 a sign-in storm raised the read p99 up to 3.9x and 6.4x; at 19, at most 1.8x.
# The price: while reads saturate every core, sign-ins wait (and get 503 after their second).
_WORKERS = max(2, os.cpu_count() or 2)
_LOW_PRIORITY = 19
# Sign-ins in progress at once: twice the threads, so one's database work overlaps another's
# hashing. Others wait their turn in order, for at most a second; beyond that wait, or that
# many waiting, the answer is 503 busy. A refused attempt has cost nothing but its request.
_SLOTS = _WORKERS * 2
_MAX_WAITING = 64
_MAX_WAIT_SECONDS = 1.0


def _lower_priority() -> None:
    """Runs in each new bcrypt thread; Linux applies a nice value to the thread alone."""
    with contextlib.suppress(OSError, AttributeError):  # other systems: normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _LOW_PRIORITY)


_executor = ThreadPoolExecutor(
    max_workers=_WORKERS, thread_name_prefix="bcrypt", initializer=_lower_priority
)
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
_waiting = 0  # touched only from event-loop threads, between awaits
_admitted: ContextVar[bool] = ContextVar("pe_portal_bcrypt_admitted", default=False)


def _busy() -> Unavailable:
    return Unavailable("Too many sign-ins at once; retry in a moment.", code="busy")


async def _take_slot() -> asyncio.Semaphore:
    """A slot of this event loop's (asyncio.Semaphore serves waiters first come, first served)."""
    global _waiting
    slots = _slots.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(_SLOTS))
    if slots.locked() and _waiting >= _MAX_WAITING:
        raise _busy()
    _waiting += 1
    try:
        async with asyncio.timeout(_MAX_WAIT_SECONDS):
            await slots.acquire()
    except TimeoutError:
        raise _busy() from None
    finally:
        _waiting -= 1
    return slots


@contextlib.asynccontextmanager
async def admitted() -> AsyncIterator[None]:
    """A turn at bcrypt work, or Unavailable (503 busy). A sign-in takes it before any other
    work, and its compare (and any rehash) run within it."""
    if _admitted.get():
        yield
        return
    slots = await _take_slot()
    token = _admitted.set(True)
    try:
        yield
    finally:
        _admitted.reset(token)
        slots.release()


# zxcvbn scores 0-4; below 2 means "guessable": on its common-password lists (leaked and
# breached sets), a dictionary word with digits, a keyboard walk, a repeat, or the e-mail.
_MIN_ZXCVBN_SCORE = 2


def check_length(password: str, *, field: str = "password") -> None:
    """Refuse what bcrypt cannot hold (over 72 UTF-8 bytes) with a message naming the limit."""
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise InvalidInput(
            f"The password is longer than {MAX_PASSWORD_BYTES} bytes (UTF-8); choose a shorter one.",
            code="password_too_long",
            details=[{"field": field, "maxBytes": MAX_PASSWORD_BYTES}],
        )


def check_policy(
    password: str, *, min_length: int, email: str | None = None, field: str = "password"
) -> None:
    """The policy for a new password: length bounds, not common, not the e-mail. No composition
    rules. Refusals name `field`, the request's name for the new password."""
    check_length(password, field=field)
    if len(password) < min_length:
        raise InvalidInput(
            f"The password must have at least {min_length} characters.",
            code="password_too_short",
            details=[{"field": field, "minLength": min_length}],
        )
    user_inputs = [email, email.split("@", 1)[0]] if email else []
    if zxcvbn(password, user_inputs=user_inputs)["score"] < _MIN_ZXCVBN_SCORE:
        raise InvalidInput(
            "This password is too common or too easy to guess; choose another.",
            code="password_too_common",
            details=[{"field": field}],
        )


async def _run(function: Callable[[bytes, bytes], T], first: bytes, second: bytes) -> T:
    async with admitted():
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_executor, function, first, second)


async def hash_password(password: str) -> str:
    """A bcrypt hash at cost 12."""
    check_length(password)
    salt = bcrypt.gensalt(rounds=BCRYPT_COST)
    return (await _run(bcrypt.hashpw, password.encode(), salt)).decode()


async def verify_password(password: str, hashed: str) -> bool:
    """True when `password` matches; `$2a$`/`$2b$`/`$2y$` hashes from other systems verify."""
    check_length(password)
    encoded = hashed.encode()
    if not encoded.startswith(_KNOWN_PREFIXES):
        return False
    if encoded.startswith(b"$2y$"):  # PHP's name for the same algorithm as $2b$
        encoded = b"$2b$" + encoded[4:]
    try:
        result = await _run(bcrypt.checkpw, password.encode(), encoded)
    except ValueError:  # a malformed stored hash never matches
        return False
    return bool(result)


# A fixed cost-12 hash of a random string: comparing against it costs what a real compare costs.
_DUMMY_HASH = "$2b$12$C6UzMDM.H6dfI/f/IKxGhuJdEMpr3SzhsjAmVrJOxiqD4rqGlmKza"


async def burn_equal_time(password: str) -> None:
    """Spend one bcrypt compare, so an unknown e-mail answers in the same time as a wrong password."""
    await verify_password(password, _DUMMY_HASH)


def needs_rehash(hashed: str) -> bool:
    """A hash of a lower cost (or another bcrypt prefix) is upgraded on the next login."""
    try:
        cost = int(hashed.split("$")[2])
    except (IndexError, ValueError):
        return True
    return cost < BCRYPT_COST or not hashed.startswith("$2b$")
