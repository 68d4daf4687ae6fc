"""The admin UI (sqladmin)."""
