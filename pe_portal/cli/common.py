"""What every command shares: the database it talks to, and failures told as one paragraph."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NoReturn, TypeVar

from rich.console import Console
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.config import Settings, get_settings
from pe_portal.db.archive import ArchiveError
from pe_portal.db.embedded import EmbeddedError
from pe_portal.db.engine import create_engine, create_sessionmaker
from pe_portal.db.runtime import DatabaseUrls, database_urls
from pe_portal.errors import PortalError
from pe_portal.mail import outbox as mail_outbox
from pe_portal.ops.logging import log_config

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _explain_database_error(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error)
    if "password authentication failed" in text:
        return (
            "The database refused the credentials in DATABASE_URL (password authentication "
            "failed). Check the user name and password."
        )
    if "does not exist" in text:
        return f"The database server answered, but: {text.strip()}. Check DATABASE_URL."
    return (
        f"Cannot reach the database ({text.strip() or type(error).__name__}). Check that "
        "PostgreSQL is running and DATABASE_URL is right, or unset DATABASE_URL to use the "
        "embedded cluster."
    )


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn the failures an operator can fix into a readable message and exit code 1."""
    try:
        yield
    except (EmbeddedError, ArchiveError) as error:
        fail(str(error))
    except PortalError as error:
        fail(error.message)
    except (TimeoutError, sa_exc.DBAPIError, sa_exc.TimeoutError, OSError) as error:
        fail(_explain_database_error(error))


@contextmanager
def database(settings: Settings | None = None) -> Iterator[DatabaseUrls]:
    """The database for one command: DATABASE_URL, or the embedded cluster for its duration."""
    with friendly_errors(), database_urls(settings or get_settings()) as urls:
        yield urls


def run(coroutine_factory: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body with friendly errors."""

    async def main() -> T:
        return await coroutine_factory()

    with friendly_errors():
        return asyncio.run(main())


@asynccontextmanager
async def unit_of_work(settings: Settings, url: str) -> AsyncIterator[AsyncSession]:
    """One transaction on a short-lived engine: committed when the block succeeds."""
    engine = create_engine(settings, url, pool_size=2)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


def in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on DATABASE_URL (or the embedded cluster). Mail
    it causes (security notices) is queued in the same transaction; the servers' delivery
    workers send it."""
    settings = get_settings()
    mail_outbox.start(settings)  # what `mail.send` renders with
    with database(settings) as urls:

        async def body() -> T:
            async with unit_of_work(settings, urls.app) as session:
                return await work(session)

        return run(body)


def port_is_free(host: str, port: int) -> bool:
    """Checked before starting a server, so a taken port is one readable line, not a traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What every server we start shares: uvloop + httptools, no version header, our logs."""
    return {
        "loop": "uvloop",
        "http": "httptools",
        "server_header": False,
        "proxy_headers": False,
        "log_level": "info",
        "log_config": log_config(settings),
    }
