"""What a refusal says to a person, in their language. Services speak English to every caller;
the console translates the ones people meet by their stable `code`, and shows any other in the
service's own words rather than nothing."""

from __future__ import annotations

from pe_portal import errors, i18n


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for translation, later"
    return message


BY_CODE = {
    "invalid_credentials": N_("The e-mail or password is not correct."),
    "account_locked": N_("Too many failed attempts: this account is locked for a while."),
    "rate_limited": N_("Too many attempts from your network; wait a moment and try again."),
    "service_unavailable": N_("The portal is busy; try again in a few seconds."),
    "busy": N_("The portal is busy; try again in a few seconds."),
    "email_taken": N_("An account with this e-mail already exists."),
    "invalid_email": N_("This is not a valid e-mail address."),
    "password_too_short": N_("This password is too short."),
    "password_too_long": N_("This password is too long (at most 72 bytes)."),
    "password_too_common": N_("This password is too common; choose another."),
    "password_contains_email": N_("The password must not contain your e-mail address."),
    "invalid_password": N_("The password is not correct."),
    "invalid_token": N_("This link is not valid. Ask for a new one."),
    "token_expired": N_("This link has expired. Ask for a new one."),
    "already_verified": N_("Your e-mail address is already verified."),
    "invalid_mfa_code": N_("This code is not correct."),
    "mfa_code_reused": N_("This code was already used; wait for the next one."),
    "invalid_mfa_token": N_("This sign-in has expired; start again."),
    "factor_not_found": N_("This factor does not exist (any more)."),
    "passkey_already_registered": N_("This passkey is already registered."),
    "too_many_factors": N_("You have reached the maximum number of factors."),
    "mfa_not_enabled": N_("Set up a second factor first."),
    "account_inactive": N_("This account is deactivated."),
    "session_expired": N_("Your session has expired; sign in again."),
    "session_not_found": N_("This device is not signed in any more."),
    "invalid_name": N_("This name is not valid."),
    "invalid_cursor": N_("This page of results is not valid; start from the newest."),
    "invalid_passkey": N_("The passkey could not be verified."),
    "step_up_required": N_("Confirm it is you: sign in again with your second factor."),
    "csrf_refused": N_(
        "This form has expired or did not come from this site. Reload the page and try again."
    ),
    "field_too_long": N_("This field is too long."),
    "session_revoked": N_("Your session has ended; sign in again."),
    "not_found": N_("This page does not exist."),
}

BY_STATUS = {
    400: N_("The request was not understood."),
    401: N_("Your session has ended; sign in again."),
    403: N_("You are not allowed to do this."),
    404: N_("This page does not exist."),
    405: N_("This page does not accept that kind of request."),
    410: N_("This link is no longer valid."),
    413: N_("What you sent is too large."),
    415: N_("This page does not accept that kind of request."),
    422: N_("Some fields are not valid."),
    429: N_("Too many attempts; wait a moment and try again."),
    500: N_("Something went wrong on our side."),
    503: N_("The portal is busy or under maintenance; try again in a few seconds."),
}


def describe(error: errors.PortalError, language: str) -> str:
    text = BY_CODE.get(error.code)
    if text is None:
        return error.message
    return i18n.translations(language).gettext(text)


def for_status(status: int, language: str) -> str:
    return i18n.translations(language).gettext(BY_STATUS.get(status, BY_STATUS[400]))


# What the page after a redirect confirms (`?done=<key>`); an unknown key shows nothing.
NOTICES = {
    "signed_out": N_("You are signed out."),
    "registered": N_(
        "Your account is ready. We sent you a link to verify your e-mail address; sign in now."
    ),
    "password_reset": N_("Your password is changed. Sign in with the new one."),
    "verified": N_("Your e-mail address is verified."),
    "reset_sent": N_(
        "If an account uses this address, we sent it a link to choose a new password."
    ),
    "verification_sent": N_("We sent you a new link to verify your e-mail address."),
    "profile_saved": N_("Your profile is saved."),
    "session_revoked": N_("That device is signed out."),
    "others_revoked": N_("All your other devices are signed out."),
    "password_changed": N_("Your password is changed; your other devices are signed out."),
    "factor_removed": N_("The factor is removed."),
    "factor_added": N_("Your second factor is set up."),
}


def notice(key: str | None, language: str) -> str | None:
    text = NOTICES.get(key or "")
    return i18n.translations(language).gettext(text) if text else None


# The trail's actions as a person reads them (the activity page).
ACTIONS = {
    "REGISTER": N_("Account created"),
    "LOGIN": N_("Signed in"),
    "LOGIN_FAILED": N_("Failed sign-in"),
    "LOGOUT": N_("Signed out"),
    "LOGOUT_ALL": N_("Signed out of other devices"),
    "TOKEN_REFRESH": N_("Session renewed"),
    "TOKEN_REUSE_DETECTED": N_("Stolen session blocked"),
    "SESSION_REVOKED": N_("Device signed out"),
    "SESSIONS_CLEANED_UP": N_("Old sessions removed"),
    "PASSWORD_CHANGED": N_("Password changed"),
    "PASSWORD_RESET_REQUESTED": N_("Password reset asked"),
    "PASSWORD_RESET": N_("Password reset"),
    "EMAIL_VERIFICATION_SENT": N_("Verification link sent"),
    "EMAIL_VERIFIED": N_("E-mail address verified"),
    "PROFILE_UPDATED": N_("Profile changed"),
    "USER_UPDATED": N_("Name changed"),
    "USER_DEACTIVATED": N_("Account deactivated"),
    "USER_ACTIVATED": N_("Account activated"),
    "USER_DELETED": N_("Account deleted"),
    "ACCOUNT_LOCKED": N_("Account locked after failed attempts"),
    "MFA_ENROLLED": N_("Second factor added"),
    "MFA_REMOVED": N_("Second factor removed"),
    "MFA_VERIFIED": N_("Second factor used"),
    "MFA_FAILED": N_("Wrong second-factor code"),
    "RECOVERY_CODE_USED": N_("Recovery code used"),
    "RECOVERY_CODES_REGENERATED": N_("New recovery codes made"),
    "KEYS_ROTATED": N_("Keys rotated"),
}


def action_names(language: str) -> dict[str, str]:
    gettext = i18n.translations(language).gettext
    return {action: gettext(text) for action, text in ACTIONS.items()}
