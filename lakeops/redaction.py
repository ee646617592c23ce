"""Keeping credentials out of every message, log line and repr.

Messages are built from names, keys and paths, never from credentials; but an input can carry
one where nobody expects it (an endpoint URL with ``user:secret@`` in it, an error a server
echoes). So every secret a configuration resolves is registered here, and every lakeops error
message and every log record passes through :func:`scrub` on its way out.
"""

from __future__ import annotations

import logging
import threading

MASK = "****"
# Short values would mask innocent text ("a", "minio" in a host name): only longer ones are
# registered. Real secret keys are 20 characters and more.
_MIN_SECRET_LENGTH = 6

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``****``."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def quoted(value: object, limit: int = 80) -> str:
    """``repr(value)`` bounded to ``limit`` characters, for quoting user input in messages."""
    shown = repr(value)
    if len(shown) <= limit:
        return shown
    return f"{shown[: limit - 1]}… ({len(shown)} characters)"


class ScrubbingFilter(logging.Filter):
    """A logging filter that formats each record once and scrubs the result."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        return True
