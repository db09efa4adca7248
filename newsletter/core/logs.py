"""Logging for every process (CLI, web, workers): human-readable lines, or JSON on request.

`LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message, and any
`extra`), for a log shipper; the default stays `time LEVEL logger: message`. While a digest
is being worked on (`digest_scope`, entered by the pipeline, the tasks and the batch loops)
every line also carries `digest_id` and `subscriber_id`, whichever module logs it: the ids
live in context variables and a filter on the handler copies them onto each record, so no
call site passes them.

No line names a person or opens their links: email addresses (a backend's refusal quotes the
recipient) keep only their domain, and the token of a signed link's path (uvicorn's access
lines, error messages) is cut, in every format and in the web server's own access lines.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from newsletter.core.config import get_settings
from newsletter.core.links import PATHS

DIGEST_ID: ContextVar[int | None] = ContextVar("digest_id", default=None)
SUBSCRIBER_ID: ContextVar[int | None] = ContextVar("subscriber_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(ids)s"
# Loggers that servers configure with handlers of their own: in JSON mode they go through ours.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery")
# Starts only where a run of address characters starts: one pass over a long line.
_EMAIL = re.compile(r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+"
                    r"@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
_LINK = re.compile("(/(?:" + "|".join(sorted({re.escape(p.split("/")[1]) for p in PATHS.values()}))
                   + r")/)[\w.-]{16,}")


def redact(text: str) -> str:
    """`text` without email addresses' local parts and signed links' tokens."""
    return _LINK.sub(r"\1…", _EMAIL.sub(r"***@\1", text))


@contextmanager
def digest_scope(digest_id: int | None, subscriber_id: int | None = None) -> Iterator[None]:
    """Every log line inside names this digest (and subscriber); nested scopes restore."""
    tokens = DIGEST_ID.set(digest_id), SUBSCRIBER_ID.set(subscriber_id)
    try:
        yield
    finally:
        DIGEST_ID.reset(tokens[0])
        SUBSCRIBER_ID.reset(tokens[1])


class ContextFilter(logging.Filter):
    """Copies the current digest and subscriber ids onto the record (JSON fields, and a
    ` [digest=.. subscriber=..]` suffix in text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = {"digest_id": DIGEST_ID.get(), "subscriber_id": SUBSCRIBER_ID.get()}
        shown = {name: value for name, value in ids.items() if value is not None}
        for name, value in shown.items():
            setattr(record, name, value)
        record.ids = (" [" + " ".join(f"{k.removesuffix('_id')}={v}" for k, v in shown.items())
                      + "]") if shown else ""
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (test runners swap it per test)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))  # message, extras and traceback alike


class _JsonLines(JsonFormatter):
    def process_log_record(self, log_data: dict) -> dict:
        # each value before it is serialised: redacting the JSON text could break an escape
        return _scrubbed(log_data)


def _scrubbed(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value


class _AccessFilter(logging.Filter):
    """Cuts the tokens out of uvicorn's access lines, whichever handler writes them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


ACCESS_FILTER = _AccessFilter()


def guard_access_log() -> None:
    """Put the filter on uvicorn's access logger (once; the web app does it at start)."""
    logging.getLogger("uvicorn.access").addFilter(ACCESS_FILTER)


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return _JsonLines(
            "%(levelname)s %(name)s %(message)s", timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "ids",
                            "message", "asctime", "taskName", "color_message"],  # uvicorn's
            json_ensure_ascii=False)
    return _Redacting(TEXT_FORMAT)


def configure(level: int | str | None = None, *, fmt: str | None = None,
              handler: logging.Handler | None = None) -> logging.Handler:
    """Install the one root handler (replacing an earlier one of ours); returns it.

    `fmt` defaults to LOG_FORMAT and `level` to LOG_LEVEL; `handler` lets a test capture."""
    settings = get_settings()
    fmt = fmt or settings.log_format
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "academichub", False)]:
        root.removeHandler(old)
    handler = handler or StderrHandler()
    handler.academichub = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level if level is not None else settings.log_level)
    guard_access_log()
    if fmt == "json":  # one format per process: servers' own loggers go through the root's
        for name in SERVER_LOGGERS:
            server_logger = logging.getLogger(name)
            server_logger.handlers.clear()
            server_logger.propagate = True
    return handler
