"""Declarative base and the column types every model shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

from cuid2 import Cuid
from sqlalchemy import Dialect, FetchedValue, MetaData, Text, text
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

_cuid = Cuid(length=25)


def new_id() -> str:
    """A CUID (cuid2) primary key; the DDL's `gen_random_uuid()` default is only a fallback."""
    return _cuid.generate()


def naive_utc(value: datetime) -> datetime:
    """What the database stores: UTC wall time, without a zone. Refuses a naive input."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given; use timezone-aware UTC")
    return value.astimezone(UTC).replace(tzinfo=None)


@overload
def aware_utc(value: datetime) -> datetime: ...
@overload
def aware_utc(value: None) -> None: ...
def aware_utc(value: datetime | None) -> datetime | None:
    """A stored wall time as Python sees it everywhere: timezone-aware UTC."""
    return None if value is None else value.replace(tzinfo=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """`TIMESTAMP(3)` holding UTC wall time; Python sees timezone-aware UTC datetimes only."""

    impl = TIMESTAMP(precision=3)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else naive_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return aware_utc(value)


class Base(DeclarativeBase):
    # RETURNING brings server-side values (trigger-kept `updated_at`) back without a lazy load.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    # The spec's strings are all TEXT.
    type_annotation_map = {str: Text()}  # noqa: RUF012

    metadata = MetaData(
        naming_convention={
            "ix": "idx_%(table_name)s_%(column_0_name)s",
            "uq": "%(table_name)s_%(column_0_name)s_key",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "pk": "%(table_name)s_pkey",
        }
    )


def id_column() -> Mapped[str]:
    return mapped_column(
        primary_key=True, default=new_id, server_default=text("gen_random_uuid()::text")
    )


def created_at_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), nullable=False, server_default=text("CURRENT_TIMESTAMP"))


def updated_at_column() -> Mapped[datetime]:
    # Maintained by the `set_updated_at` trigger for every writer; the ORM only reads it back.
    return mapped_column(
        UTCDateTime(),
        nullable=False,
        server_default=text("CURRENT_TIMESTAMP"),
        server_onupdate=FetchedValue(),
    )
