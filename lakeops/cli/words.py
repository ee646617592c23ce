"""Reading a command's positional words: a LAYER KEY pair, or one s3:// URI, where either fits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lakeops.cli.exits import UsageError
from lakeops.locations import is_uri


@dataclass(frozen=True)
class Place:
    """A place in the lake as typed: a layer (or a URI) and a key or prefix (None with a URI)."""

    layer: str
    key: str | None

    def __str__(self) -> str:
        return self.layer if self.key is None else f"{self.layer} {self.key}"


class Words:
    def __init__(self, words: Sequence[str], command: str) -> None:
        self._words = list(words)
        self._command = command

    def place(self, what: str, *, key_optional: bool = False) -> Place:
        """The next LAYER KEY pair, or URI."""
        if not self._words:
            raise UsageError(f"{what} is missing.", hint=f"See `lakeops {self._command} --help`.")
        first = self._words.pop(0)
        if is_uri(first):
            return Place(first, None)
        if not self._words or (key_optional and is_uri(self._words[0])):
            if key_optional:
                return Place(first, "")
            raise UsageError(
                f"{what}: layer {first!r} needs a key after it.",
                hint="Give LAYER KEY (bronze postgres/users.csv) or one URI (s3://raw/...).",
            )
        return Place(first, self._words.pop(0))

    def target(self, what: str) -> Place | None:
        """A promotion's target: a URI, or a layer with an optional key; None when absent."""
        if not self._words:
            return None
        first = self._words.pop(0)
        if is_uri(first):
            return Place(first, None)
        key = self._words.pop(0) if self._words else None
        return Place(first, key)

    def one(self, what: str, *, optional: bool = False) -> str | None:
        if self._words:
            return self._words.pop(0)
        if optional:
            return None
        raise UsageError(f"{what} is missing.", hint=f"See `lakeops {self._command} --help`.")

    def done(self) -> None:
        if self._words:
            raise UsageError(
                f"unexpected argument {self._words[0]!r}.",
                hint=f"See `lakeops {self._command} --help`.",
            )
