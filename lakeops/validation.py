"""Checks on caller input. They all run before any request is sent."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from lakeops.errors import InvalidKeyError, InvalidMetadataError, LocalFileError, ValidationError
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.redaction import quoted

MAX_KEY_BYTES = 1024
# S3 limits user-defined metadata to 2 KiB, counted as the UTF-8 bytes of keys and values.
MAX_METADATA_BYTES = 2048
# Metadata keys lakeops writes itself (checksum, lineage). Callers may not set them.
RESERVED_METADATA_PREFIX = "lakeops-"

# Metadata travels in x-amz-meta-* headers: the name must be an HTTP token, and S3 stores it
# lower-cased.
_METADATA_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# The names that mark a published dataset (lakeops.datasets.manifest): written by publishing
# only, never as an object of their own.
MANIFEST_NAME = "_lakeops_manifest.json"
SUCCESS_NAME = "_SUCCESS"
RESERVED_KEY_NAMES = frozenset({MANIFEST_NAME, SUCCESS_NAME})


def validate_key(key: object, *, what: str = "object key") -> str:
    """Return ``key`` if it is a safe object key, else raise :class:`InvalidKeyError`."""
    key = _text_key(key, what)
    if key == "":
        raise InvalidKeyError(
            f"{what} is empty.", hint="Pass a key such as 'postgres/users/2024-01-15/users.csv'."
        )
    if key.endswith("/"):
        raise InvalidKeyError(
            f"{what} {quoted(key)} ends with '/', so it names a prefix, not an object.",
            hint="Add the object's file name to the key.",
        )
    return _check_path_shape(key, what)


def validate_write_key(layer: StorageLayer, key: object, *, what: str = "object key") -> str:
    """A key lakeops may write in ``layer``: a valid key under one of the layer's declared
    prefixes. The pipeline roles may write nowhere else, so the root login must not either,
    or dev would accept what prod refuses."""
    checked = validate_key(key, what=what)
    name = checked.rsplit("/", 1)[-1]
    if name in RESERVED_KEY_NAMES:
        raise InvalidKeyError(
            f"{what} {quoted(checked)} ends in {name}, which only lakeops writes: it marks "
            "a published dataset; nothing was written.",
            hint="Publish with a dataset job (upload/promote --recursive), or rename the object.",
        )
    prefixes = LAYOUT[layer].prefixes
    if not checked.startswith(prefixes):
        raise InvalidKeyError(
            f"{what} {quoted(checked)} is outside {layer}'s prefixes ({', '.join(prefixes)}); "
            "nothing was written.",
            hint=f"Write under one of them, for example {quoted(prefixes[0] + checked)}.",
        )
    return checked


def validate_existing_key(key: object, *, what: str = "object key") -> str:
    """A key to read: anything S3 can hold, for objects that other tools wrote.

    lakeops never writes keys that fail :func:`validate_key`, but it reads any that exist.
    """
    key = _text_key(key, what)
    if key == "":
        raise InvalidKeyError(f"{what} is empty.", hint="Pass the key of an existing object.")
    return _check_length(key, what)


def _text_key(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidKeyError(
            f"{what} must be a string, not {quoted(value, 40)} ({type(value).__name__}).",
            hint="Pass the key as a str, for example 'cleaned/orders/2024-01-15/part-0.csv'.",
        )
    return value


def _check_length(value: str, what: str) -> str:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        # A file name whose bytes are not UTF-8 (os.fsdecode keeps them as surrogates).
        raise InvalidKeyError(
            f"{what} {quoted(value)} is not valid UTF-8, which S3 keys must be.",
            hint="Rename the file with a UTF-8 name (convmv can convert a whole folder).",
        ) from exc
    if size > MAX_KEY_BYTES:
        raise InvalidKeyError(
            f"{what} is {size} bytes long; S3 allows at most {MAX_KEY_BYTES}.",
            hint="Shorten it.",
        )
    return value


def validate_content_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    if (
        not isinstance(content_type, str)
        or "/" not in content_type
        or not content_type.isascii()
        or _CONTROL_CHARS.search(content_type)
    ):
        raise InvalidMetadataError(
            f"content type {quoted(content_type)} is not a media type.",
            hint="Use a type such as 'text/csv' or 'application/vnd.apache.parquet'.",
        )
    return content_type


def validate_prefix(prefix: object) -> str:
    """A listing prefix: empty is allowed, and it may end with '/'."""
    if prefix is None or prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise InvalidKeyError(f"prefix {quoted(prefix)} is not a string.", hint="Pass a str.")
    return _check_path_shape(prefix, "prefix")


def _check_path_shape(value: str, what: str) -> str:
    if value.startswith("/"):
        raise InvalidKeyError(
            f"{what} {quoted(value)} starts with '/'.",
            hint=f"Keys are relative to the layer's bucket: use {quoted(value.lstrip('/'))}.",
        )
    if any(part in ("..", ".") for part in value.split("/")):
        raise InvalidKeyError(
            f"{what} {quoted(value)} has a '.' or '..' segment.",
            hint="Such keys break local paths and some S3 clients; spell the key without them.",
        )
    if "//" in value:
        raise InvalidKeyError(
            f"{what} {quoted(value)} has an empty segment ('//').", hint="Remove the doubled slash."
        )
    if _CONTROL_CHARS.search(value):
        raise InvalidKeyError(
            f"{what} {quoted(value)} contains control characters.",
            hint="Remove tabs, newlines and other control characters.",
        )
    return _check_length(value, what)


def validate_metadata(metadata: Mapping[str, str] | None, *, reserve: int = 0) -> dict[str, str]:
    """User metadata normalised to lower-case names, checked to fit S3's limit beside the
    ``reserve`` bytes lakeops adds; or InvalidMetadataError."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(
            f"metadata must be a mapping of str to str, not {type(metadata).__name__}.",
            hint="Pass a dict such as {'source': 'postgres'}.",
        )
    clean: dict[str, str] = {}
    for name, value in metadata.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidMetadataError(
                f"metadata entry {quoted(name)}: {quoted(value)} is not str to str.",
                hint="Convert names and values to strings.",
            )
        lowered = name.lower()
        if not _METADATA_NAME.match(lowered):
            raise InvalidMetadataError(
                f"metadata name {quoted(name)} is not allowed.",
                hint="Use letters, digits, '-' and '_' only, starting with a letter or digit.",
            )
        if lowered.startswith(RESERVED_METADATA_PREFIX):
            raise InvalidMetadataError(
                f"metadata name {quoted(name)} uses the reserved prefix "
                f"{RESERVED_METADATA_PREFIX!r}.",
                hint="lakeops writes those names itself (checksum, lineage); rename yours.",
            )
        if not value.isascii() or _CONTROL_CHARS.search(value):
            raise InvalidMetadataError(
                f"metadata value for {quoted(name)} has non-ASCII or control characters.",
                hint="S3 sends metadata as HTTP headers; encode the value (for example as "
                "percent-encoding or base64) before passing it.",
            )
        if lowered in clean:
            raise InvalidMetadataError(
                f"metadata name {quoted(name)} is given twice (names are case-insensitive).",
                hint="Keep one of them.",
            )
        clean[lowered] = value
    size = metadata_size(clean)
    if size + reserve > MAX_METADATA_BYTES:
        raise InvalidMetadataError(
            f"metadata is {size} bytes; with the {reserve} bytes lakeops keeps for its checksum "
            f"and promotion lineage, that exceeds S3's {MAX_METADATA_BYTES}.",
            hint="Store large attributes in a sidecar object instead of metadata.",
        )
    return clean


def metadata_size(metadata: Mapping[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())


def local_path(value: object, *, what: str = "local path") -> Path:
    """A str or os.PathLike as a Path; anything else is a ValidationError, not a TypeError.
    A NUL byte ends a path at the operating system's door, so it is refused here."""
    if isinstance(value, str | os.PathLike) and str(value) != "":
        if "\x00" in str(value):
            raise LocalFileError(
                f"{what} {quoted(str(value))} contains a NUL byte, which no file name can hold.",
                hint="Check how the path was built.",
            )
        return Path(value)
    raise LocalFileError(
        f"{what} must be a path (str or pathlib.Path), not {quoted(value)}.",
        hint="Pass the file's path.",
    )


def optional_text(value: object, what: str) -> str | None:
    """An optional string argument (a version id, a content type), type-checked."""
    if value is None or (isinstance(value, str) and value):
        return value
    raise ValidationError(f"{what} must be a non-empty string, not {quoted(value)}.")


def optional_callback(value: object, what: str = "progress") -> object:
    if value is None or callable(value):
        return value
    raise ValidationError(
        f"{what} must be a callable taking a byte count, not {quoted(value)}.",
        hint="Pass a function, or None.",
    )


def readable_file(file_path: object) -> Path:
    path = local_path(file_path, what="local file")
    try:
        return _readable(path)
    except OSError as exc:  # a name too long, a loop of links: the path itself is unusable
        raise LocalFileError(
            f"local file {quoted(str(path))} cannot be used: {exc.strerror}.",
            hint="Check the path.",
        ) from exc


def _readable(path: Path) -> Path:
    if not path.exists():
        raise LocalFileError(
            f"local file {quoted(str(path))} does not exist.", hint="Check the path and try again."
        )
    if not path.is_file():
        raise LocalFileError(
            f"local path {quoted(str(path))} is not a regular file.",
            hint="Upload files one at a time; pass a file, not a directory.",
        )
    try:
        with path.open("rb") as handle:
            handle.read(0)
    except OSError as exc:
        raise LocalFileError(
            f"local file {quoted(str(path))} cannot be read: {exc.strerror}.",
            hint="Check the file's permissions.",
        ) from exc
    return path


def download_target(file_path: object) -> Path:
    """Check a download target before any request; its folders are made only when needed."""
    path = local_path(file_path, what="download target")
    try:
        return _writable_target(path)
    except OSError as exc:
        raise LocalFileError(
            f"download target {quoted(str(path))} cannot be used: {exc.strerror}.",
            hint="Choose a shorter or simpler path.",
        ) from exc


def _writable_target(path: Path) -> Path:
    if path.is_dir():
        raise LocalFileError(
            f"download target {quoted(str(path))} is a directory.",
            hint="Pass the path of the file to write, including its name.",
        )
    existing = next((folder for folder in path.parents if folder.exists()), Path.cwd())
    if not existing.is_dir():
        raise LocalFileError(
            f"cannot create {quoted(str(path))}: {quoted(str(existing))} is a file, not a folder.",
            hint="Choose another location.",
        )
    if not os.access(existing, os.W_OK):
        raise LocalFileError(
            f"folder {quoted(str(existing))} is not writable, so {quoted(str(path))} cannot be "
            "written.",
            hint="Choose a writable location or fix the folder's permissions.",
        )
    return path
