"""pyiceberg's, the catalogs' and PyArrow's failures, as lakeops errors naming the table.

pyiceberg raises its own exceptions for catalog outcomes, botocore's for Glue, SQLAlchemy's
for the SQL catalogs, and PyArrow's S3 filesystem raises ``OSError`` whose text carries the
AWS SDK's error name (``AWS Error ACCESS_DENIED during HeadObject operation``). Each is
turned into the lakeops error with the command's exit code for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import botocore.exceptions

from lakeops.errors import (
    AccessDeniedError,
    CredentialsRejectedError,
    EndpointUnreachableError,
    LakeOpsError,
    NotFoundError,
    StorageError,
    TableCommitConflictError,
    TableNotFoundError,
    ValidationError,
)
from lakeops.redaction import scrub

# The AWS C++ SDK's error names in PyArrow's messages (aws-cpp-sdk-core, CoreErrors).
_ARROW_DENIED = re.compile(
    r"AWS Error (ACCESS_DENIED|UNKNOWN) \(HTTP status code: 403\)|ACCESS_DENIED"
)
_ARROW_CREDENTIALS = re.compile(
    r"INVALID_ACCESS_KEY_ID|SIGNATURE_DOES_NOT_MATCH|InvalidAccessKeyId"
)
_ARROW_UNREACHABLE = re.compile(r"NETWORK_CONNECTION|Couldn't connect|curlCode: (6|7|28)")
_GLUE_DENIED = {"AccessDeniedException", "AccessDenied", "403"}


def _short(error: BaseException) -> str:
    text = scrub(str(error)).strip().replace("\n", " ")
    return text[:300] + ("..." if len(text) > 300 else "")


@contextmanager
def table_errors(what: str, *, catalog: str = "") -> Iterator[None]:
    """Run ``what`` (``write silver cleaned.users``); raise lakeops errors for its failures."""
    from pyiceberg.exceptions import (
        CommitFailedException,
        NamespaceAlreadyExistsError,
        NoSuchNamespaceError,
        NoSuchTableError,
        ValidationException,
    )

    try:
        yield
    except LakeOpsError:
        raise
    except NoSuchNamespaceError as exc:
        raise TableNotFoundError(
            f"{what}: the catalog{f' ({catalog})' if catalog else ''} has no such database: "
            f"{_short(exc)}",
            hint="The stack declares one database per table layer (Glue, in prod): run "
            "`pulumi up` for it, and export its outputs again.",
        ) from exc
    except NoSuchTableError as exc:
        raise TableNotFoundError(
            f"{what}: no such table in the catalog{f' ({catalog})' if catalog else ''}.",
            hint="`lakeops tables LAYER` lists a layer's tables; the first write_table creates "
            "a table.",
        ) from exc
    except (CommitFailedException, ValidationException) as exc:
        raise TableCommitConflictError(
            f"{what}: another writer changed the table first, and every retry met another "
            f"change ({_short(exc)}). Nothing was committed, and the files written for it were "
            "removed.",
            hint="Run the write again; if it keeps conflicting, serialise the writers of this "
            "table.",
        ) from exc
    except NamespaceAlreadyExistsError as exc:  # a race two first writes can run
        raise TableCommitConflictError(f"{what}: {_short(exc)}", hint="Run it again.") from exc
    except botocore.exceptions.ClientError as exc:
        raise _glue_error(what, exc) from exc
    except botocore.exceptions.EndpointConnectionError as exc:
        raise EndpointUnreachableError(
            f"{what}: the Glue catalog is unreachable: {_short(exc)}"
        ) from exc
    except OSError as exc:
        raise _arrow_error(what, exc) from exc
    except ValueError as exc:
        # pyiceberg's answer to input it cannot take: files already in the table, a schema
        # it cannot convert, nanosecond timestamps. Raised before anything is committed.
        raise ValidationError(f"{what}: {_short(exc)}") from exc
    except Exception as exc:
        sql = _sql_error(what, exc)
        if sql is not None:
            raise sql from exc
        raise


def _glue_error(what: str, exc: botocore.exceptions.ClientError) -> LakeOpsError:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    # AWS says AccessDeniedException; a stand-in may answer a bare 403.
    if code in _GLUE_DENIED or status == 403:
        return AccessDeniedError(
            f"{what}: the Glue catalog refused it ({_short(exc)}).",
            hint="The role's policy grants Glue actions on its own layers' databases only "
            "(see docs/reference.md, Access).",
        )
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken"):
        return CredentialsRejectedError(f"{what}: {_short(exc)}")
    return StorageError(f"{what}: the catalog failed: {_short(exc)}")


def _arrow_error(what: str, exc: OSError) -> LakeOpsError:
    text = str(exc)
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(
            f"{what}: a file the table refers to is missing: {_short(exc)}",
            hint="`lakeops verify LAYER NAMESPACE.TABLE` checks every file of the table.",
        )
    if _ARROW_CREDENTIALS.search(text):
        return CredentialsRejectedError(f"{what}: the S3 endpoint rejected the keys: {_short(exc)}")
    if _ARROW_DENIED.search(text):
        return AccessDeniedError(
            f"{what}: S3 refused it: {_short(exc)}",
            hint="A role reads and writes tables only in the layers its policy grants "
            "(README, the role table).",
        )
    if _ARROW_UNREACHABLE.search(text):
        return EndpointUnreachableError(f"{what}: the S3 endpoint is unreachable: {_short(exc)}")
    return StorageError(f"{what}: {_short(exc)}")


def _sql_error(what: str, exc: Exception) -> LakeOpsError | None:
    try:
        from sqlalchemy.exc import OperationalError, SQLAlchemyError
    except ImportError:  # pragma: no cover - sqlalchemy comes with lakeops[tables]
        return None
    if isinstance(exc, OperationalError):
        return EndpointUnreachableError(
            f"{what}: the SQL catalog cannot be used: {_short(exc.orig or exc)}",
            hint="For the shared dev catalog, start it: docker compose --profile catalog up -d "
            "catalog-db.",
        )
    if isinstance(exc, SQLAlchemyError):
        return StorageError(f"{what}: the SQL catalog failed: {_short(exc)}")
    return None
