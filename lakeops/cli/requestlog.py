"""``--debug``: one log line per HTTP request: method, bucket and key, status and time.

Read off botocore's own events, per attempt (retries show as lines of their own). Headers and
query strings are left out: they carry signatures and, with temporary credentials, the
session token. The lines pass through the scrubbing filter besides.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("lakeops.requests")


class RequestLog:
    def __init__(self) -> None:
        self._local = threading.local()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send.s3", self._sent)
        client.meta.events.register("response-received.s3", self._received)

    def _sent(self, request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        self._local.line = f"{request.method} {parts.netloc}{unquote(parts.path)}"
        self._local.started = time.monotonic()

    def _received(self, response_dict: Any, exception: Any, context: Any, **_: Any) -> None:
        started = getattr(self._local, "started", None)
        if started is None:
            return
        elapsed = (time.monotonic() - started) * 1000
        outcome = str(response_dict["status_code"]) if response_dict else type(exception).__name__
        attempt = (context or {}).get("retries", {}).get("attempt", 1)
        retry = f" (attempt {attempt})" if attempt > 1 else ""
        log.debug("%s -> %s in %.0f ms%s", self._local.line, outcome, elapsed, retry)
        self._local.started = None
