"""The one error hierarchy of lakeops.

Every message names what it is about (layer, bucket, key, local path or endpoint) and the
likely fix. Messages never contain credentials: they are built without them, and scrubbed of
every registered secret besides (lakeops.redaction), in case an input carried one.
The ``exit_code`` of each class is the ``lakeops`` command's exit status for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lakeops.redaction import scrub


class LakeOpsError(Exception):
    """Base class of every error lakeops raises on purpose."""

    exit_code = 10

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = scrub(message)
        self.hint = scrub(hint) if hint else None
        super().__init__(f"{self.message} {self.hint}" if self.hint else self.message)


class ConfigurationError(LakeOpsError):
    """The configuration (arguments, environment, stack outputs) is unusable."""

    exit_code = 3


class InvalidManifestError(ConfigurationError):
    """A dataset's manifest is not one lakeops would have written for that prefix: not a
    manifest, another dataset's, or with an entry lakeops would never write (a header it does
    not copy, a value that is not one). Refused before it steers anything."""


class ValidationError(LakeOpsError):
    """Bad input, caught before any request is sent."""

    exit_code = 2


class UnknownLayerError(ValidationError):
    def __init__(self, value: object) -> None:
        super().__init__(
            f"unknown layer {value!r}.",
            hint="Use one of: bronze (raw), silver (staging), gold (curated).",
        )


class InvalidKeyError(ValidationError):
    pass


class InvalidMetadataError(ValidationError):
    pass


class LocalFileError(ValidationError):
    """A local file to read is missing or unreadable, or a target path is unusable."""


class PromotionDirectionError(ValidationError):
    pass


class DatasetInvalidError(ValidationError):
    """Some objects of a dataset job cannot be transferred at all (bad names, folders in the
    way, replaced bronze objects); reported for all of them before any write."""

    def __init__(self, message: str, *, hint: str | None = None, result: object = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class NotFoundError(LakeOpsError):
    exit_code = 4


class BucketNotFoundError(NotFoundError):
    pass


class ObjectNotFoundError(NotFoundError):
    pass


class EmptyDatasetError(NotFoundError):
    """A dataset job found nothing to transfer: an empty folder or prefix, a typo in it, or
    filters that match nothing. Nothing is written, and nothing is published."""

    def __init__(self, message: str, *, hint: str | None = None, result: object = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class NotPublishedError(NotFoundError):
    """A dataset's manifest does not exist: it was never published."""


class ConflictError(LakeOpsError):
    """Something exists where the operation would write, and must not be replaced."""

    exit_code = 5


class ImmutableObjectError(ConflictError):
    """A bronze object exists with different content; bronze never overwrites."""


class LocalFileExistsError(ConflictError):
    """A download's destination file exists and --force (overwrite) was not given."""


class DatasetConflictError(ImmutableObjectError):
    """A dataset job would overwrite objects that must not change (bronze objects with other
    content, local files, a published dataset); reported for all of them before any write."""

    def __init__(self, message: str, *, hint: str | None = None, result: object = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class DatasetPublishedError(DatasetConflictError):
    """The dataset's manifest exists and describes different content."""


class AccessDeniedError(LakeOpsError):
    exit_code = 6


class CredentialsRejectedError(AccessDeniedError):
    """The endpoint does not accept the credentials at all (unknown key, bad secret, expired
    token), as opposed to a policy refusing one action."""


class EndpointUnreachableError(LakeOpsError):
    exit_code = 7


class IntegrityError(LakeOpsError):
    """Downloaded bytes do not match the checksum recorded at upload."""

    exit_code = 8


class ReplacedObjectError(IntegrityError):
    """A bronze object's current version is not the one first written: bronze was overwritten
    by something that does not keep its append-only rule."""


class DatasetChangedError(IntegrityError):
    """Objects of a published dataset were replaced or deleted since it was published, so its
    live objects are no longer the dataset."""


class StorageError(LakeOpsError):
    """Any other failure reported by the object store."""

    exit_code = 9


class DatasetIncompleteError(LakeOpsError):
    """Some objects of a dataset job failed; the others were done. Nothing partial was kept,
    the dataset was not published, and running the job again finishes it. ``result`` holds
    each failure with its reason; ``exit_code`` is theirs when they agree."""

    def __init__(self, message: str, *, hint: str | None = None, result: object = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result
        codes = {failure.exit_code for failure in getattr(result, "failures", ())}
        if len(codes) == 1:
            self.exit_code = codes.pop()


# -- tables (lakeops.tables) ------------------------------------------------------------------


class TableNotFoundError(NotFoundError):
    """The catalog has no such table (or namespace)."""


class SchemaMismatchError(ValidationError):
    """Data written to a table does not match its schema; nothing was written."""


class ChecksFailedError(ValidationError):
    """Quality checks refused the data before the commit; the table did not change.
    ``failures`` holds (check name, rows failed or None for a whole-table check)."""

    def __init__(
        self, message: str, *, hint: str | None = None, failures: Sequence[Any] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.failures = list(failures)


class TableCommitConflictError(ConflictError):
    """Another writer committed to the table first, every retry included; this write was not
    committed and its files were removed."""
