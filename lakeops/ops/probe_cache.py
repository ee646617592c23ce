"""The conditional-write probe's answers, kept on disk for a day, so that each process (each
``lakeops`` command) does not ask the server again.

One small JSON file in the user's cache folder (``$XDG_CACHE_HOME/lakeops``, else
``~/.cache/lakeops``), keyed by endpoint and bucket. A file that cannot be read or written
only costs a probe: the answer is then asked again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

# A server is rarely upgraded under a lake; a day bounds how long a changed one goes unseen.
LIFETIME_SECONDS = 24 * 3600
FILE_NAME = "conditional-writes.json"


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lakeops" / FILE_NAME


def _entry(endpoint: str, bucket: str) -> str:
    return f"{endpoint} {bucket}"


def _read() -> dict[str, object]:
    try:
        document = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def recall(endpoint: str, bucket: str) -> bool | None:
    """The answer given for the bucket within the last day; None when there is none."""
    found = _read().get(_entry(endpoint, bucket))
    if not isinstance(found, dict):
        return None
    answer, when = found.get("enforced"), found.get("at")
    if not isinstance(answer, bool) or not isinstance(when, (int, float)):
        return None
    return answer if 0 <= time.time() - when < LIFETIME_SECONDS else None


def remember(endpoint: str, bucket: str, enforced: bool) -> None:
    path = cache_file()
    document = _read()
    document[_entry(endpoint, bucket)] = {"enforced": enforced, "at": time.time()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: two commands at once never leave half a file.
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as temporary:
            json.dump(document, temporary)
        Path(temporary.name).replace(path)
    except OSError as exc:
        log.debug("cannot keep the conditional-write answer in %s: %s", path, exc)


def forget() -> None:
    try:
        cache_file().unlink(missing_ok=True)
    except OSError as exc:
        log.debug("cannot remove %s: %s", cache_file(), exc)
