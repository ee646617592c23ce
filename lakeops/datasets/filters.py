"""Choosing a dataset's files: include and exclude globs over relative paths.

A pattern without '/' matches a file's name at any depth (``*.parquet``); a pattern with '/'
matches the whole relative path (``date=2024-*/part-*.parquet``), where ``*`` also crosses
'/' as in aws-cli's filters. A path is taken if it matches some include (or none are given)
and no exclude.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from lakeops.errors import ValidationError
from lakeops.redaction import quoted


@dataclass(frozen=True)
class PathFilter:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, include: Sequence[str] | str | None, exclude: Sequence[str] | str | None
    ) -> PathFilter:
        return cls(_patterns(include, "include"), _patterns(exclude, "exclude"))

    def __call__(self, relative: str) -> bool:
        if self.include and not any(_matches(p, relative) for p in self.include):
            return False
        return not any(_matches(p, relative) for p in self.exclude)


def _matches(pattern: str, relative: str) -> bool:
    if "/" in pattern:
        return fnmatchcase(relative, pattern)
    return fnmatchcase(relative.rsplit("/", 1)[-1], pattern)


def _patterns(value: Sequence[str] | str | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    values = (value,) if isinstance(value, str) else tuple(value)
    for pattern in values:
        if not isinstance(pattern, str) or not pattern or pattern.startswith("/"):
            raise ValidationError(
                f"{what} pattern {quoted(pattern)} is not a relative glob.",
                hint="Write globs relative to the dataset, such as '*.parquet' or 'date=*/*'.",
            )
    return values
