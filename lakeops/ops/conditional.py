"""Whether the server really refuses to overwrite when a write says ``If-None-Match: *``.

Bronze's append-only rule rests on it. AWS, MinIO and moto refuse; Ceph RGW 16.2 ignores the
header on versioned buckets and writes a second version. Where the answer is no (or unknown)
lakeops looks before every bronze write instead, which is racy, and ``lakeops verify`` says so.

The answer is kept for a day on disk (lakeops.ops.probe_cache), per endpoint and bucket, so
that one command does not pay for a probe. Only dataset jobs probe (``may_probe``): a one-file
upload without an answer looks, then writes conditionally, which is no more requests than a
probe.

The probe writes the layout's marker of the bucket's first prefix: a zero-byte ``prefix/``
object readers skip, which the stack creates anyway. On a server that refuses, the write is
refused (or creates the missing marker once). On one that ignores the header, it leaves an
identical second version of the marker, which the probe then tries to remove. That is
harmless in silver and gold, but not in bronze, where no role may remove it and every second
version is a key written over: bronze is never probed by writing. Its answer is the one of
silver or gold on the same endpoint, taken only when that bucket's versioning is bronze's (what
RGW's behaviour turns on); credentials that may write neither, or may not read the buckets'
versioning (the pipeline roles), get no answer, and look before each bronze write, unless
another command left one on disk. On AWS S3's own endpoint, which documents that it enforces
the condition, bronze is not probed at all.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import botocore.exceptions

from lakeops.layout import LAYOUT, StorageLayer, marker_key
from lakeops.ops import probe_cache
from lakeops.s3errors import CONFLICT_CODES, NOT_FOUND_CODES, error_code, normalize_version

if TYPE_CHECKING:
    from lakeops.ops.context import Context

log = logging.getLogger(__name__)

_answers: dict[tuple[str, str], bool | None] = {}
_probing: dict[tuple[str, str], threading.Lock] = {}
_lock = threading.Lock()


def conditional_writes_enforced(
    ctx: Context, layer: StorageLayer, *, may_probe: bool = True
) -> bool | None:
    """True if the layer's bucket refuses overwrites under ``If-None-Match: *``; False if it
    ignores the header; None if it could not be told (no write permission, or an error), or
    if there is no answer yet and ``may_probe`` is False."""
    key = (ctx.config.endpoint_label, ctx.bucket(layer))
    with _lock:
        if key in _answers:
            return _answers[key]
    remembered = probe_cache.recall(*key)
    if remembered is not None:
        with _lock:
            if key not in _answers:
                _answers[key] = remembered
                if remembered is False:
                    _warn_ignored(ctx, layer)
            return _answers[key]
    if not may_probe:
        return None
    with _lock:
        # One probe per bucket: the workers of a job that all ask at once wait for it, rather
        # than each writing the marker (on a server that ignores the condition, each write
        # would leave a version behind).
        probing = _probing.setdefault(key, threading.Lock())
    with probing:
        with _lock:
            if key in _answers:
                return _answers[key]
        answer = _probe(ctx, layer)
        if answer is not None:
            probe_cache.remember(*key, answer)
        if answer is False:
            _warn_ignored(ctx, layer)
        with _lock:
            _answers[key] = answer
            return answer


def forget_probes() -> None:
    """Ask again on next use (tests, or after the server was changed)."""
    with _lock:
        _answers.clear()
    probe_cache.forget()


def _warn_ignored(ctx: Context, layer: StorageLayer) -> None:
    promise = (
        "bronze's append-only rule is not enforced by the server; lakeops checks before each write"
        if LAYOUT[layer].append_only
        else "the server does not make a dataset's first publish win; lakeops checks for a "
        "manifest before writing one"
    )
    log.warning(
        "s3://%s ignores If-None-Match: %s, which another client can race.",
        ctx.bucket(layer),
        promise,
    )


def _probe(ctx: Context, layer: StorageLayer) -> bool | None:
    if not LAYOUT[layer].append_only:
        return _probe_by_writing(ctx, layer)
    if ctx.config.endpoint_url is None:
        # AWS S3 itself: it refuses overwrites under If-None-Match on PutObject, versioned
        # buckets included (documented since August 2024). Nothing to probe.
        return True
    # Never by writing to bronze: the answer of a layer where a probe's stray version is
    # harmless, on the same endpoint, and only of one versioned as bronze is (RGW honours
    # the condition on a bucket whose versioning was suspended, and ignores it on bronze).
    for other, _ in probe_markers(layer):
        if not _versioned_alike(ctx, layer, other):
            continue
        answer = conditional_writes_enforced(ctx, other)
        if answer is not None:
            return answer
    log.debug("conditional writes in %s not known: no other layer could be probed", layer)
    return None


def _versioned_alike(ctx: Context, layer: StorageLayer, other: StorageLayer) -> bool:
    """Whether both buckets' versioning says the same (False when it cannot be read: a
    pipeline role may not read a bucket's configuration)."""
    states = []
    for bucket in (ctx.bucket(layer), ctx.bucket(other)):
        try:
            states.append(ctx.client.get_bucket_versioning(Bucket=bucket).get("Status"))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            log.debug("conditional-write probe: versioning of s3://%s: %s", bucket, exc)
            return False
    return states[0] == states[1]


def probe_markers(layer: StorageLayer) -> list[tuple[StorageLayer, str]]:
    """The layers and prefix markers a probe for ``layer`` may write, in the order it tries
    them: the layer's own first marker, or for an append-only layer, silver's and gold's."""
    if not LAYOUT[layer].append_only:
        return [(layer, marker_key(LAYOUT[layer].prefixes[0]))]
    return [
        (other, marker_key(LAYOUT[other].prefixes[0]))
        for other in StorageLayer
        if not LAYOUT[other].append_only
    ]


def _probe_by_writing(ctx: Context, layer: StorageLayer) -> bool | None:
    bucket = ctx.bucket(layer)
    marker = marker_key(LAYOUT[layer].prefixes[0])
    try:
        ctx.client.head_object(Bucket=bucket, Key=marker)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) not in NOT_FOUND_CODES:
            log.debug("conditional-write probe: HEAD s3://%s/%s: %s", bucket, marker, exc)
            return None
        # A lake whose marker is missing: the first write creates it, the second must fail.
        if _put_marker(ctx, bucket, marker)[0] != "written":
            return None
    except botocore.exceptions.BotoCoreError as exc:
        log.debug("conditional-write probe: HEAD s3://%s/%s: %s", bucket, marker, exc)
        return None
    outcome, extra_version = _put_marker(ctx, bucket, marker)
    if outcome != "written":
        return True if outcome == "refused" else None
    if extra_version is not None:
        try:
            ctx.client.delete_object(Bucket=bucket, Key=marker, VersionId=extra_version)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            log.debug("could not remove the probe's extra version of %s: %s", marker, exc)
    return False


def _put_marker(ctx: Context, bucket: str, marker: str) -> tuple[str, str | None]:
    """("written", version id), ("refused", None) on a precondition failure, or ("failed",
    None) on any other error."""
    try:
        response = ctx.client.put_object(Bucket=bucket, Key=marker, Body=b"", IfNoneMatch="*")
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in CONFLICT_CODES:
            return "refused", None
        log.debug("conditional-write probe: PUT s3://%s/%s: %s", bucket, marker, exc)
        return "failed", None
    except botocore.exceptions.BotoCoreError as exc:
        log.debug("conditional-write probe: PUT s3://%s/%s: %s", bucket, marker, exc)
        return "failed", None
    return "written", normalize_version(response.get("VersionId"))
