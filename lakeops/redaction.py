"""Keeping credentials out of every message, log line and repr.

Messages are built from names, keys and paths, never from credentials; but an input can carry
one where nobody expects it (an endpoint URL with ``user:secret@`` in it, an error a server
echoes). So every secret a configuration resolves is registered here, and every lakeops error
message and every log record passes through :func:`scrub` on its way out.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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


def redact_url(url: str) -> str:
    """``url`` as lakeops shows it: its user name, password and query values masked, and each
    of them registered as a secret, so that an error that repeats the URL is scrubbed too.

    Endpoint URLs never carry credentials (the configuration refuses them); a URL lakeops
    sends to on a caller's behalf (an OpenLineage endpoint) may, and is shown only this way.
    """
    try:
        parts = urlsplit(url)
        # A user name is a secret only where it is the token itself (https://TOKEN@host).
        user = parts.username if parts.password is None else None
        hidden = [user, parts.password, *(v for _, v in parse_qsl(parts.query))]
    except ValueError:  # not a URL at all: nothing of it is shown
        return MASK
    for value in hidden:
        register_secret(value)
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username is not None or parts.password is not None:
        netloc = f"{MASK}@{netloc}"
    query = "&".join(f"{name}={MASK}" for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


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
