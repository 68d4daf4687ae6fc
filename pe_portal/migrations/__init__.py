"""Alembic migrations: the environment (`env.py`) and the dated versions. An entry point: it
loads every model through `pe_portal.models`."""
