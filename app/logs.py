"""Keep secrets out of logs: personal links carry tokens and projector keys in their query."""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"(?i)\b(token|key)=[^&\s\"]+")


def redact(text: str) -> str:
    return _SECRET_QUERY.sub(r"\1=[redacted]", text)


class RedactSecrets(logging.Filter):
    """Rewrites `token=...` and `key=...` in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install() -> None:
    """Add the filter to uvicorn's access and error logs (once). Under uvicorn, the service's
    own lines (the event loop at start, deleted personal data, out of open files) go where
    uvicorn's go, in their format, from INFO up: without a handler of their own they would
    reach only Python's last resort, which drops INFO."""
    for name in ("uvicorn.access", "uvicorn.error", "commonground"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
    service, server = logging.getLogger("commonground"), logging.getLogger("uvicorn")
    if not service.handlers and server.handlers:
        for handler in server.handlers:
            service.addHandler(handler)
        service.setLevel(logging.INFO)
        service.propagate = False
