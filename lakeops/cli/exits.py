"""The command's exit statuses, one per kind of outcome."""

from __future__ import annotations

from lakeops.errors import (
    AccessDeniedError,
    ConfigurationError,
    EndpointUnreachableError,
    ImmutableObjectError,
    IntegrityError,
    LakeOpsError,
    NotFoundError,
    StorageError,
    ValidationError,
)

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_CODES = [
    (EXIT_OK, "success"),
    (
        EXIT_DRIFT,
        "verify found drift, a dataset that differs from its manifest, or a table file missing",
    ),
    (ValidationError.exit_code, "bad input or usage, or data a table refuses (nothing was sent)"),
    (ConfigurationError.exit_code, "configuration error"),
    (NotFoundError.exit_code, "bucket, object, dataset or table not found, or nothing matched"),
    (
        ImmutableObjectError.exit_code,
        "would overwrite what must not change (bronze, a published dataset, a local file), "
        "or another writer committed to the table first",
    ),
    (AccessDeniedError.exit_code, "credentials rejected, or access denied by policy"),
    (EndpointUnreachableError.exit_code, "endpoint unreachable, or the connection kept dropping"),
    (IntegrityError.exit_code, "data failed its checksum, or bronze was written over"),
    (StorageError.exit_code, "other object-store error"),
    (LakeOpsError.exit_code, "other lakeops error"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C or SIGTERM); run the same command again to finish"),
    (EXIT_BROKEN_PIPE, "the output pipe was closed (for example by head)"),
]


class UsageError(LakeOpsError):
    exit_code = EXIT_USAGE
