"""Passwords, tokens, and the login / refresh / logout flows."""
