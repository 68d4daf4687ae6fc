"""Mail: messages rendered for one person (plain text + HTML, in their language and timezone)
and delivered in the background over SMTP (`SMTP_URL`) or as `.eml` files under `MAIL_DIR`.

Sending from a service (plain call, no FastAPI, no await; never raises a delivery error)::

    from pe_portal.mail import service as mail

    mail.send(
        "password_reset",
        to=user.email,
        language=profile.language,  # BCP 47 or None: the tag, its primary language, else English
        timezone=profile.timezone,  # IANA name or None (UTC)
        context={"token": token, "expires_at": expires_at},
    )

Templates (`templates/<lang>/<name>.txt|.html`, English, French, German) and their context;
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

`send` renders, then queues on `outbox.default_outbox()`. `create_app()` makes that outbox (also
when tests hand in an engine: it is `app.state.outbox`) and the app's shutdown gives it up to
MAIL_DRAIN_TIMEOUT seconds to empty. A CLI command that causes mail runs inside
`async with outbox.running(settings):`, which returns once the mail is delivered or given up.
Tests: `await app.state.outbox.drain()`, then read the message from the `smtp_server` fixture
(`tests/smtp.py`) or from MAIL_DIR.

The message is queued at once, not at commit: call `send` as the service's last step, once
what the mail reports has been flushed.
"""
