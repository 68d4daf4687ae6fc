"""Pure-ASGI middleware for every response: request id, security headers, body limits, and the
last-resort 500. Written against ASGI directly because it sits on the hot path of every request."""

from __future__ import annotations

import html
import json
import logging
import re
from secrets import token_hex
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pe_portal.console import routes as console
from pe_portal.http import nul_in_address
from pe_portal.http.reads import WRITE_LSN_COOKIE, WRITE_LSN_HEADER, WRITE_LSN_STATE
from pe_portal.ops.logging import request_id_var

log = logging.getLogger("pe_portal.web")

_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_FORM_PATHS = {"/api/v1/auth/token"}
_BODY_METHODS = {b"POST", b"PUT", b"PATCH", b"DELETE"}


class BodyTooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _write_position(scope: Scope) -> list[tuple[bytes, bytes]]:
    """After a write (with replicas): its commit LSN, for read-your-writes on the next reads."""
    lsn = scope.get("state", {}).get(WRITE_LSN_STATE)
    if not lsn:
        return []
    cookie = f"{WRITE_LSN_COOKIE}={lsn}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"
    return [(WRITE_LSN_HEADER.encode(), lsn.encode()), (b"set-cookie", cookie.encode())]


class PortalMiddleware:
    """Adds `X-Request-ID` and security headers, enforces the body limit and content types, and
    turns any unhandled exception into a generic 500 that names the request id."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, b"x-request-id")
        request_id = (
            supplied.decode() if supplied and _SANE_REQUEST_ID.match(supplied) else token_hex(16)
        )
        scope.setdefault("state", {})["request_id"] = request_id
        request_id_var.set(request_id)  # each request runs in its own task: no reset needed
        extra = self._security_headers(scope, request_id)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                message["headers"] = headers + extra + _write_position(scope)
            await send(message)

        rejection = self._reject(scope)
        if rejection is not None:
            await _send_error(send_with_headers, *rejection, page=console.serves(scope["path"]))
            return
        # Only the methods whose handlers read a body need it counted (GET, HEAD: none).
        if scope["method"].encode() in _BODY_METHODS:
            receive = self._limited(receive)
        try:
            await self.app(scope, receive, send_with_headers)
        except BodyTooLarge:
            if not started:
                await _send_error(
                    send_with_headers, 413, "payload_too_large", self._too_large(),
                    page=console.serves(scope["path"]),
                )  # fmt: skip
        except Exception:
            log.exception("unhandled error (request %s)", request_id)
            if not started:
                await _send_error(
                    send_with_headers,
                    500,
                    "internal_error",
                    f"An unexpected error occurred. Quote request id {request_id} when reporting it.",
                )

    def _security_headers(self, scope: Scope, request_id: str) -> list[tuple[bytes, bytes]]:
        # Pages keep their origin on their own forms (the console's CSRF check reads the Origin
        # header, which Chromium sends as "null" under no-referrer) and send nothing elsewhere.
        referrer = b"same-origin" if console.serves(scope["path"]) else b"no-referrer"
        headers = [
            (b"x-request-id", request_id.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", referrer),
            (b"x-frame-options", b"DENY"),
        ]
        if scope.get("scheme") == "https":
            headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        return headers

    def _too_large(self) -> str:
        return f"The request body exceeds {self.max_body_bytes} bytes."

    def _reject(self, scope: Scope) -> tuple[int, str, str] | None:
        """Refuse early what no handler should see: a NUL in the address, oversized bodies,
        wrong content types."""
        if nul_in_address(scope):
            return 400, "bad_request", "The address holds a NUL character, which nothing here can."
        if scope["method"].encode() not in _BODY_METHODS:
            return None
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit():
                return 400, "bad_request", "Content-Length is not a number."
            if int(length) > self.max_body_bytes:
                return 413, "payload_too_large", self._too_large()
            if int(length) == 0:
                return None
        path: str = scope["path"]
        if not path.startswith("/api/"):
            return None
        content_type = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        expected = (
            b"application/x-www-form-urlencoded" if path in _FORM_PATHS else b"application/json"
        )
        if length is None and not content_type:
            return None
        if content_type != expected:
            return 415, "unsupported_media_type", f"Send the body as {expected.decode()}."
        return None

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        return limited_receive


async def _send_error(
    send: Send, status: int, code: str, message: str, *, page: bool = False
) -> None:
    """The error shape; for a page (a person's browser), the same words as a minimal page."""
    if page:
        content_type, payload = b"text/html; charset=utf-8", _page(message)
    else:
        body: dict[str, Any] = {"error": {"code": code, "message": message, "details": None}}
        content_type, payload = b"application/json", json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _page(message: str) -> bytes:
    # Refused before any handler ran (no language, no session): plain and self-contained.
    text = html.escape(message)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{text}</title>'
        f'</head><body><main><h1>{text}</h1><p><a href="/account">Back to your account</a>'
        "</p></main></body></html>"
    ).encode()
