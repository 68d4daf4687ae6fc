"""Mail: messages rendered for one person (plain text + HTML, in their language and timezone),
written to the `mail_outbox` table in the caller's transaction, and delivered by a worker in
every server process over SMTP (`SMTP_URL`) or as `.eml` files under `MAIL_DIR`.

Sending from a service (no FastAPI; never raises a delivery error)::

    from pe_portal.mail import service as mail

    await mail.send(
        "password_reset",
        session=session,            # the caller's unit of work: sent iff it commits
        to=user.email,
        language=profile.language,  # BCP 47 or None: its primary language if we have it, else English
        timezone=profile.timezone,  # IANA name or None (UTC)
        context={"token": token, "expires_at": expires_at},
    )

Templates (`templates/<name>.txt|.html`, one per message and part, their words in English inside
`{% trans %}`; French and German come from the shared catalogs, `pe_portal.i18n`, docs/i18n.md)
and their context;
datetimes aware, or naive UTC as read from the database; a missing key raises
`jinja2.UndefinedError` (a bug for the tests to catch):

==================  ===========================================  ===============================
template            context                                      link in the mail
==================  ===========================================  ===============================
verify_email        token, expires_at                            PUBLIC_URL/verify-email?token=
password_reset      token, expires_at                            PUBLIC_URL/reset-password?token=
new_device_login    user_agent, ip_address (each may be None),   PUBLIC_URL/account/sessions
                    at
password_changed    at                                           PUBLIC_URL/account/sessions
token_reuse         at                                           PUBLIC_URL/account/sessions
==================  ===========================================  ===============================

`send` renders at once (so the Date and Message-ID are fixed, and a template bug surfaces in the
request), seals the bytes (`sealing.py`: AES-GCM under a key derived from SECRET_KEY) and runs
one INSERT. Nothing else happens on the request path: a rolled-back action leaves no row, and a
committed row is delivered even if the process dies the next instant.

Delivery (`outbox.py`, `worker.py`): `create_app()` makes the outbox (`app.state.outbox`, also
when tests hand in an engine); a served app's lifespan runs a `Worker` that claims due rows with
`FOR UPDATE SKIP LOCKED`, so processes and hosts share the queue. See docs/operations.md
"Mail outbox" for retries, retention, shutdown and the operators' commands.

Tests: `await app.state.outbox.drain()` delivers what the test's transaction queued (through the
app's sessionmaker), then read the message from the `smtp_server` fixture (`tests/smtp.py`) or
from MAIL_DIR.
"""
