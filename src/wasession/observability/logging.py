"""Log set-up for serve and worker: JSON lines (one object per record) or plain text.

WASESSION_LOG_FORMAT=json|text; the default is JSON when stderr is not a terminal (systemd, containers)
and text at a terminal. Every line passes through `redact`, so a token or secret that reaches a
message or a traceback by accident is masked before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_SECRETS = [
    # API keys, wherever they appear (a header dumped in a message, a URL, a traceback)
    (re.compile(r"\b(wsk_)[A-Za-z0-9_-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(sha256=)[0-9a-f]{16,}"), r"\1[redacted]"),
    (
        re.compile(
            r"(?i)((?:access_token|app_secret|verify_token|secret_key|password|hub\.verify_token|client_secret)"
            r"[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,}]+"
        ),
        r"\1[redacted]",
    ),
    # postgresql://user:password@host: keep the user, hide the password
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1[redacted]@"),
]

# Record attributes every LogRecord has; anything else was passed with `extra=` and is kept.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn: the message again, with terminal colours
}


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (int, float, bool, type(None))) else str(value)
        return redact(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter(TEXT_FORMAT)


def configure(fmt: str | None = None, level: str = "INFO") -> None:
    """Route every logger (uvicorn's included) through one stderr handler with the chosen format
    (`Settings.log_format` and `log_level`, checked there); no format: text at a terminal, else JSON."""
    fmt = (fmt or ("text" if sys.stderr.isatty() else "json")).lower()
    if fmt not in ("json", "text"):
        raise ValueError(f"log format {fmt!r}: use json or text")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Alembic announces each of its plugins and its DDL mode at INFO on every start: noise to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request line at INFO; a send per line is noise, and URLs may carry ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
