"""The one error hierarchy of lakeops.

Every message names what it is about (layer, bucket, key, local path or endpoint) and the
likely fix. Messages never contain credentials: nothing here is ever given one.
The ``exit_code`` of each class is the ``lakeops`` command's exit status for it.
"""

from __future__ import annotations


class LakeOpsError(Exception):
    """Base class of every error lakeops raises on purpose."""

    exit_code = 10

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} {hint}" if hint else message)


class ConfigurationError(LakeOpsError):
    """The configuration (arguments, environment, stack outputs) is unusable."""

    exit_code = 3


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


class NotFoundError(LakeOpsError):
    exit_code = 4


class BucketNotFoundError(NotFoundError):
    pass


class ObjectNotFoundError(NotFoundError):
    pass


class ImmutableObjectError(LakeOpsError):
    """A bronze object exists with different content; bronze never overwrites."""

    exit_code = 5


class AccessDeniedError(LakeOpsError):
    exit_code = 6


class EndpointUnreachableError(LakeOpsError):
    exit_code = 7


class IntegrityError(LakeOpsError):
    """Downloaded bytes do not match the checksum recorded at upload."""

    exit_code = 8


class StorageError(LakeOpsError):
    """Any other failure reported by the object store."""

    exit_code = 9
