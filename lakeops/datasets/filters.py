"""Choosing a dataset's files: include and exclude globs over relative paths.

A pattern without '/' matches a file's name at any depth (``*.parquet``); a pattern with '/'
matches the whole relative path (``date=2024-*/part-*.parquet``), where ``*`` also crosses
'/' as in aws-cli's filters. A path is taken if it matches some include (or none are given)
and no exclude.

Unlike aws-cli, where filters apply in order and a later ``--include`` takes back what an
earlier ``--exclude '*'`` left out, an exclude here always wins: the aws idiom
``--exclude '*' --include '*.parquet'`` would select nothing, so it is refused with the lakeops
way to say it (the include alone).
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
        chosen = cls(_patterns(include, "include"), _patterns(exclude, "exclude"))
        everything = [p for p in chosen.exclude if set(p) == {"*"}]
        if everything:
            raise ValidationError(
                f"exclude pattern {quoted(everything[0])} leaves out every file: in lakeops an "
                "exclude always wins over an include (aws-cli instead applies its filters in "
                "order, so that a later --include takes files back).",
                hint=_include_alone(chosen.include),
            )
        return chosen

    def __call__(self, relative: str) -> bool:
        if self.include and not any(_matches(p, relative) for p in self.include):
            return False
        return not any(_matches(p, relative) for p in self.exclude)


def _include_alone(include: tuple[str, ...]) -> str:
    if not include:
        return "Leave the exclude out, or give the files to keep with --include GLOB."
    shown = " ".join(f"--include {quoted(p)}" for p in include)
    return f"To keep only those files, give the include alone: {shown} (no --exclude)."


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
