"""Units: RFC 6238 vectors, the accepted window, recovery codes, sealing and key rotation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from pe_portal.config import Settings
from pe_portal.mfa import recovery, totp
from pe_portal.security.secretbox import SecretBoxError, new_key, secret_box

# RFC 6238 Appendix B, SHA-1 (seed "12345678901234567890"): time -> 8-digit TOTP.
RFC_6238_SHA1 = {
    59: "94287082",
    1111111109: "07081804",
    1111111111: "14050471",
    1234567890: "89005924",
    2000000000: "69279037",
    20000000000: "65353130",
}
SEED = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(("moment", "expected"), sorted(RFC_6238_SHA1.items()))
def test_rfc_6238_vectors(moment: int, expected: str) -> None:
    step = moment // totp.STEP_SECONDS
    assert totp.code_at(SEED, step, digits=8) == expected
    assert totp.code_at(SEED, step) == expected[-6:]  # 6 digits: the same value, truncated


def test_one_step_either_side_is_accepted_and_no_further() -> None:
    now = datetime.fromtimestamp(1111111111, UTC)
    step = totp.step_of(now)
    for offset, accepted in ((-2, False), (-1, True), (0, True), (1, True), (2, False)):
        code = totp.code_at(SEED, step + offset)
        assert (totp.matching_step(SEED, code, now=now) == step + offset) is accepted


def test_recovery_codes_are_ten_distinct_and_forgiving_to_type() -> None:
    codes = recovery.new_codes()
    assert len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    key = "k" * 32
    assert recovery.digest(key, codes[0]) == recovery.digest(key, f" {codes[0].upper()} ")
    assert recovery.digest(key, codes[0]) != recovery.digest("other" * 8, codes[0])


def _settings(key: str | None) -> Settings:
    return Settings(mfa_encryption_key=key, _env_file=None)


def test_sealed_values_open_only_on_their_row_and_after_rotation() -> None:
    old, new = new_key("k1"), new_key("k2")
    before = secret_box(_settings(old))
    sealed = before.seal(b"JBSWY3DPEHPK3PXP", bound_to="factor-1")
    assert b"JBSWY3DP" not in sealed.encode()
    assert sealed.startswith("k1.")
    with pytest.raises(SecretBoxError):
        before.open(sealed, bound_to="factor-2")  # copied onto another row: refused
    rotated = secret_box(_settings(f"{new},{old}"))
    assert not rotated.is_current(sealed)
    assert rotated.open(sealed, bound_to="factor-1") == b"JBSWY3DPEHPK3PXP"
    resealed = rotated.seal(rotated.open(sealed, bound_to="factor-1"), bound_to="factor-1")
    assert resealed.startswith("k2.")
    assert rotated.is_current(resealed)
    with pytest.raises(SecretBoxError):
        secret_box(_settings(new)).open(sealed, bound_to="factor-1")  # k1 retired


@pytest.mark.parametrize("key", ["nocolon", "k1:short", "bad id!:" + "A" * 43])
def test_a_malformed_key_setting_is_refused(key: str) -> None:
    with pytest.raises(SecretBoxError):
        secret_box(_settings(key))


def test_production_refuses_to_start_without_a_real_key() -> None:
    with pytest.raises(ValueError, match="MFA_ENCRYPTION_KEY"):
        Settings(
            env="production", secret_key="s" * 40, database_url="postgresql://localhost/x",
            _env_file=None,
        )  # fmt: skip
