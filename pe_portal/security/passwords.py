"""Password policy and bcrypt hashing (DESIGN 5), hashing always off the event loop."""

from __future__ import annotations

import bcrypt
from zxcvbn import zxcvbn

from pe_portal.errors import InvalidInput
from pe_portal.security import hashing

BCRYPT_COST = 12
MAX_PASSWORD_BYTES = 72  # bcrypt reads no further; longer is refused, never truncated
_KNOWN_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")
# Every hash and compare runs on `hashing`'s threads, within a turn of its admission: one rule
# for every path that checks or sets a password. A flow of several steps takes one turn.
admitted = hashing.admitted


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


async def hash_password(password: str) -> str:
    """A bcrypt hash at cost 12."""
    check_length(password)
    salt = bcrypt.gensalt(rounds=BCRYPT_COST)
    return (await hashing.run(bcrypt.hashpw, password.encode(), salt)).decode()


async def verify_password(password: str, hashed: str) -> bool:
    """True when `password` matches; `$2a$`/`$2b$`/`$2y$` hashes from other systems verify."""
    check_length(password)
    encoded = hashed.encode()
    if not encoded.startswith(_KNOWN_PREFIXES):
        return False
    if encoded.startswith(b"$2y$"):  # PHP's name for the same algorithm as $2b$
        encoded = b"$2b$" + encoded[4:]
    try:
        result = await hashing.run(bcrypt.checkpw, password.encode(), encoded)
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
