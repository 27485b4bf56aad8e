"""Structured JSON logs with a request id; message text only when the operator opts in.

Health questions are sensitive. Nothing in this module or its callers puts a user's
words in a log record unless STRIDE_LOG_MESSAGES=true; records carry ids, routes,
status codes, timings and outcomes instead.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from typing import Any

from service.config import Settings

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Attributes a record may carry into the JSON line (everything else is dropped).
_FIELDS = ("method", "path", "status", "duration_ms", "outcome", "safety_level", "rules", "citations", "error", "turns", "message_text")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id.get(),
        }
        for name in _FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: a traceback could quote the request's text.
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False)


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "stride": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            # Access lines are written by our own middleware (with the request id).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure(settings: Settings) -> None:
    """Same configuration when the app is created outside `stride serve` (tests, other servers)."""
    import logging.config

    logging.config.dictConfig(uvicorn_log_config(settings))
