"""Structured logs: JSON (the production default) or console lines, each carrying the request id,
and never a password, token or hash: a redaction step sees every line before it is written."""

from __future__ import annotations

import functools
import re
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from pe_portal.config import Settings

# Set by the request middleware; every line logged while serving that request carries it.
request_id_var: ContextVar[str | None] = ContextVar("pe_portal_request_id", default=None)

REDACTED = "[REDACTED]"
_SECRET_KEY = re.compile(
    r"passw(or)?d|\bpwd|secret|token|authorization|cookie|hash|digest|api.?key|credential", re.I
)
_SECRET_TEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), REDACTED),  # JWTs
    (re.compile(r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}"), REDACTED),  # bcrypt hashes
    (re.compile(r"\b(bearer|basic)\s+[\w.~+/=-]+", re.I), rf"\1 {REDACTED}"),
    (
        re.compile(
            r"(\b(?:password|passwd|pwd|secret|\w*token|api.?key)[\"']?\s*[=:]\s*[\"']?)"
            r"[^\s&\"',;}]+",
            re.I,
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), rf"\1{REDACTED}@"),  # passwords in URLs
    (re.compile(r"\b[0-9a-fA-F]{64}\b"), REDACTED),  # SHA-256 digests of tokens
)
# Every pattern at once: most lines hold no secret, and one search is far cheaper than six subs
# (the access log writes a line per request).
_ANY_SECRET = re.compile(
    "|".join(f"(?{'i' if p.flags & re.I else ''}:{p.pattern})" for p, _ in _SECRET_TEXT)
)


def redact_text(text: str) -> str:
    """`text` with every secret-looking value replaced by [REDACTED]."""
    if _ANY_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def _redact(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return REDACTED if _is_secret_key(key) else redact_text(value)
    if isinstance(value, bytes):
        return REDACTED
    if isinstance(value, MutableMapping):
        return {k: _redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(key, item) for item in value]
    return value


# Set by the chain itself (time, level, logger name): nothing to look for in them.
_OWN_KEYS = frozenset({"timestamp", "level", "logger"})


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: no value whose key or text looks secret leaves unredacted."""
    for key, value in event_dict.items():
        if key not in _OWN_KEYS and not key.startswith("_"):
            event_dict[key] = _redact(key, value)
    return event_dict


def add_request_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    request_id = request_id_var.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def uvicorn_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """uvicorn's access line also as fields (client, method, path, status); no colour copies."""
    args = event_dict.pop("positional_args", ())
    event_dict.pop("color_message", None)
    if event_dict.get("logger") == "uvicorn.access" and len(args) == 5:
        client, method, path, _version, status = args
        event_dict.update(client=client, method=method, path=path, status=status)
    return event_dict


_PRE_CHAIN: list[Processor] = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
    add_request_id,
    uvicorn_fields,
]


def build_formatter(fmt: str = "console") -> structlog.stdlib.ProcessorFormatter:
    """The formatter every handler uses (named in `log_config`, so each worker builds its own)."""
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    _configure_structlog()
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        pass_foreign_args=True,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )


def _configure_structlog() -> None:
    """`structlog.get_logger()` users go through the same handlers and redaction."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *_PRE_CHAIN[:3],
            add_request_id,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def log_format(settings: Settings) -> str:
    """LOG_FORMAT when set; otherwise JSON in production and console lines elsewhere."""
    if "log_format" in settings.model_fields_set:
        return settings.log_format
    return "json" if settings.env == "production" else "console"


def log_config(settings: Settings, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and the app: one handler, structured lines."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": f"{__name__}.build_formatter", "fmt": log_format(settings)}
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["default"], "level": level},
    }
