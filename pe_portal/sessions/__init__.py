"""Refresh-token sessions, one row per device."""
