"""The second factor: TOTP, passkeys (WebAuthn), recovery codes and pending sign-ins."""
