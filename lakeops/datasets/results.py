"""What a dataset job planned, did, and failed to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    """What the plan will do with one object."""

    NEW = "new"  # not at the target yet: transfer it
    CHANGED = "changed"  # at the target with other content, which may be replaced: transfer it
    IDENTICAL = "identical"  # at the target with the same content: skip it
    CONFLICT = "conflict"  # at the target with other content that must not be replaced
    INVALID = "invalid"  # cannot be transferred at all (a bad name, a folder in the way)


TRANSFERS = frozenset({Action.NEW, Action.CHANGED})


@dataclass(slots=True)
class Item:
    """One object of a dataset job. ``relative`` is its path below the dataset's root."""

    relative: str
    action: Action
    size: int
    source: str  # local path, or source key
    target: str  # target key, or local path
    etag: str | None = None  # the source object's, as listed
    version_id: str | None = None  # the source object's version to read
    sha256: str | None = None  # the content's, when known
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.relative,
            "action": self.action.value,
            "size": self.size,
            "source": self.source,
            "target": self.target,
            **({"note": self.note} if self.note else {}),
        }


@dataclass(frozen=True)
class ItemFailure:
    relative: str
    target: str
    error: str  # the lakeops error's class name
    message: str
    exit_code: int


@dataclass
class DatasetResult:
    """A dataset job's outcome. The counts add up to the files the plan found."""

    operation: str  # upload | download | promote
    source: str
    target: str
    dry_run: bool
    new: int = 0
    changed: int = 0
    identical: int = 0
    conflicts: int = 0
    invalid: int = 0
    transferred: int = 0
    bytes_total: int = 0
    bytes_to_transfer: int = 0
    bytes_transferred: int = 0
    seconds: float = 0.0
    failures: list[ItemFailure] = field(default_factory=list)
    # True when conflicts were there and the caller asked to skip them.
    skipped_conflicts: bool = False
    manifest_uri: str | None = None
    manifest_version_id: str | None = None
    # True when this job wrote the manifest; False when an identical one was there.
    published: bool = False
    interrupted: bool = False
    # Downloads and promotions: True when the source was read through its published
    # manifest, False when it was not published and its live objects were read.
    from_manifest: bool = False
    # Downloads of a published dataset: how many of its objects' live versions differ from
    # the published ones (which were read all the same).
    live_changed: int = 0
    # A dry run whose job would be refused: why, and the exit code the job would end with.
    refusal: str | None = None
    refusal_exit_code: int | None = None
    items: list[Item] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted and self.refusal is None

    @property
    def skipped(self) -> int:
        """Objects left alone: identical ones, and conflicts when asked to skip them."""
        return self.identical + (self.conflicts if self.skipped_conflicts else 0)

    def summary(self) -> str:
        what = "would transfer" if self.dry_run else "transferred"
        count = self.new + self.changed if self.dry_run else self.transferred
        total = self.new + self.changed + self.identical + self.conflicts
        parts = [f"{what} {count} of {plural(total, 'object')}"]
        parts.append(f"{self.identical} identical skipped")
        if self.conflicts:
            skipped = " skipped" if self.skipped_conflicts else ""
            parts.append(f"{plural(self.conflicts, 'conflict')}{skipped}")
        if self.failures:
            parts.append(f"{len(self.failures)} failed")
        return ", ".join(parts)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
