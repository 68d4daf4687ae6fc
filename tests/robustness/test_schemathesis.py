"""Schemathesis over /openapi.json against the real server: no 5xx, responses that match the
documented schemas, invalid input refused, and authenticated operations refusing no token; and
statefully, following the document's links: register -> login -> refresh ... -> logout."""

from __future__ import annotations

import itertools
import os
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.factories import PASSWORD, unique_email
from tests.robustness.served import Served
from tests.web.test_openapi_document import served_document

# A scenario may present one refresh token twice (two links lead from a sign-in to a refresh):
# inside the grace window that is a replay, outside it reuse, which ends the session. On a
# loaded machine steps can be 10 s apart; the window outlasts a scenario, so what the scenario
# reaches does not depend on the machine's speed (reuse has its own tests, tests/auth/).
SERVED_ENV = {"REFRESH_REUSE_GRACE": "3600"}
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))  # CI bound; docs: longer run
load_all_checks()
# Rules the document says no schema can state (the fields' descriptions name them): a
# schema-valid password may still be too common, or over 72 bytes in fewer than 72 characters;
# a schema-valid e-mail may have a special-use domain.
# ... and a passkey credential is a signed proof of a challenge: no schema can tell a genuine one.
UNSTATABLE = frozenset(
    {"password_too_common", "password_too_long", "invalid_email", "invalid_passkey"}
)


# Profile fields whose descriptions name a rule beyond the schema (a numbering plan, the
# language subtag registry, a JSON object's size).
UNSTATABLE_FIELDS = frozenset({"phone", "avatar", "language", "preferences"})


def _refused_for_unstatable_rules(response: Any) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    if not isinstance(error, dict):  # the token endpoint's RFC 6749 body: no such rule there
        return False
    if error.get("code") in UNSTATABLE:
        return True
    details = error.get("details")
    items = details if isinstance(details, list) else []
    fields = [str(item.get("field", "")).split(".")[0] for item in items if isinstance(item, dict)]
    return (
        error.get("code") == "validation_error"
        and bool(fields)
        and all(field in UNSTATABLE_FIELDS for field in fields)
    )


@schemathesis.check
def positive_data_acceptance_but_unstatable_rules(
    ctx: Any, response: Any, case: Any
) -> bool | None:
    """Schemathesis' `positive_data_acceptance`, except for a 422 naming an UNSTATABLE rule."""
    if response.status_code == 422 and _refused_for_unstatable_rules(response):
        return None
    return positive_data_acceptance(ctx, response, case)


# Every check schemathesis has (`--checks all`), that one narrowed as above.
CHECKS = [
    check for check in REGISTERED_CHECKS.get_all() if check is not positive_data_acceptance
] + [positive_data_acceptance_but_unstatable_rules]


@pytest.fixture(scope="module")
def bearer(served: Served) -> dict[str, str]:
    """A signed-in account for the authenticated operations."""
    return signed_in_bearer(served)


def signed_in_bearer(served: Served) -> dict[str, str]:
    """A new account, signed in: its Authorization header."""
    email = unique_email("fuzz")
    with httpx.Client(base_url=served.url) as client:
        client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


# The app's own OpenAPI document, built at import (pytest 9 breaks schemathesis' lazy fixture
# loader); the requests go to a real server process below.
DOCUMENT = served_document()


def _load_schema() -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_dict(DOCUMENT)
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        database="none",
    )
    return loaded


schema = _load_schema()
# Operations that end the signed-in account's session (or the account): a fresh one per case.
ENDS_THE_SESSION = {("DELETE", "/api/v1/users/me"), ("POST", "/api/v1/auth/logout"),
                    ("POST", "/api/v1/auth/logout-all")}  # fmt: skip


@schema.parametrize()
def test_api_conforms(case: schemathesis.Case[Any], bearer: dict[str, str], served: Served) -> None:
    ends = (case.method.upper(), case.path) in ENDS_THE_SESSION
    headers = signed_in_bearer(served) if ends else bearer
    case.call_and_validate(base_url=served.url, headers=headers, checks=CHECKS)


# The sign-in flow as its links describe it; every step answered, every answer checked.
SIGN_IN_FLOW = r"^/api/v1/auth/(register|login|refresh|logout)$"
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "15"))
STRONG_SUFFIX = "-pad-7Qx!vK2#pW9"  # 16 characters: also above the default minimum of 12


def test_the_sign_in_flow_statefully(served: Served) -> None:
    """Scenarios that follow the links from a registration's request to a sign-in, from a
    sign-in's tokens to refreshes, and on to a sign-out; each response is checked as above."""
    flow = schemathesis.openapi.from_dict(DOCUMENT).include(path_regex=SIGN_IN_FLOW)
    flow.config.generation.update(modes=[GenerationMode.POSITIVE], database="none")
    followed: list[str] = []

    registrations = itertools.count()

    @flow.hook
    def map_body(context: Any, body: Any) -> Any:
        """Each registration a new address (the server keeps what earlier scenarios made, and a
        scenario replayed must go as it went), and a password no strength check refuses (a
        rule the document can only describe): a scenario must get past the door."""
        if context.operation.path.endswith("/register") and isinstance(body, dict):
            email, password = body.get("email"), body.get("password")
            if isinstance(email, str):
                body["email"] = f"flow{next(registrations)}.{email}"
            if isinstance(password, str):  # <= 40 bytes kept, so <= 56 bytes in all
                kept = password.encode()[:40].decode(errors="ignore")
                body["password"] = kept + STRONG_SUFFIX
        return body

    class SignInFlow(flow.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"base_url": served.url}

        def after_call(self, response: Any, case: schemathesis.Case[Any]) -> None:
            followed.append(f"{case.path} {response.status_code}")

        def validate_response(
            self, response: Any, case: schemathesis.Case[Any], **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    SignInFlow.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,  # the same scenarios on every run: CI cannot flake on luck
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
    # The scenarios got past the door: accounts were made and every link was followed.
    reached = set(followed)
    for step in ("register 201", "login 200", "refresh 200", "logout 204"):
        assert f"/api/v1/auth/{step}" in reached, (step, sorted(reached), followed[:80])
