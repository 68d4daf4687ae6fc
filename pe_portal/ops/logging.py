"""Structured logs: JSON (the production default) or console lines, each carrying the request id,
and never a password, token or hash: a redaction step sees every line before it is written."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
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
# A cheap test that rules out most lines before any pattern runs (a search of all the patterns
# cost ~14 µs on an access line, which is written once per request). Each pattern needs one of
# these substrings, compared case-folded as re.IGNORECASE compares (the dotless i, U+0131, is
# the one letter IGNORECASE takes for an ASCII one that case-folding does not), or a run of 64
# hex digits.
_SECRET_HINTS = ("eyj", "$2", "bearer", "basic", "passw", "pwd", "secret", "token", "key", "://")
_HEX_RUN = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}")


def _might_hold_secret(text: str) -> bool:
    folded = text.casefold().replace("\u0131", "i")
    return any(hint in folded for hint in _SECRET_HINTS) or _HEX_RUN.search(text) is not None


def redact_text(text: str) -> str:
    """`text` with every secret-looking value replaced by [REDACTED]."""
    if not _might_hold_secret(text):
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
    _configure_structlog()
    if fmt == "json":
        return JsonFormatter(
            foreign_pre_chain=_PRE_CHAIN,
            pass_foreign_args=True,
            processors=_final_chain(structlog.processors.JSONRenderer()),
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        pass_foreign_args=True,
        processors=_final_chain(structlog.dev.ConsoleRenderer(colors=False)),
    )


def _final_chain(renderer: Processor) -> list[Processor]:
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        redact,
        renderer,
    ]


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """JSON lines; uvicorn's access line, written once per request, rendered directly.

    The general chain costs about 70 µs a line, a sixth of an authenticated read's CPU
    (docs/benchmarks.md); rendered here the same line costs a few. A line with anything
    secret-looking in it still goes through the chain, so redaction has one implementation."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "uvicorn.access":
            line = _plain_access_line(record)
            if line is not None:
                return line
        return super().format(record)


def _plain_access_line(record: logging.LogRecord) -> str | None:
    """The JSON the chain would write for this access record (same fields, same order), or None
    when the record is not uvicorn's usual one or holds anything redaction would touch."""
    args = record.args
    if not isinstance(args, tuple) or len(args) != 5 or record.exc_info or record.stack_info:
        return None
    client, method, path, _version, status = args
    event = record.getMessage()
    request_id = request_id_var.get()
    texts = [event, str(client), str(method), str(path), request_id or ""]
    if _might_hold_secret("\n".join(texts)):
        return None
    line: dict[str, Any] = {
        "event": event,
        "level": record.levelname.lower(),
        "logger": record.name,
        "timestamp": _iso_utc(record.created),
    }
    if request_id is not None:
        line["request_id"] = request_id
    line.update(client=client, method=method, path=path, status=status)
    return json.dumps(line)


def _iso_utc(timestamp: float) -> str:
    """As structlog's TimeStamper(fmt="iso", utc=True) writes it."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


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
