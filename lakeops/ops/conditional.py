"""Whether the server really refuses to overwrite when a write says ``If-None-Match: *``.

Bronze's append-only rule rests on it. AWS, MinIO and moto refuse; Ceph RGW 16.2 ignores the
header on versioned buckets and writes a second version. Where the answer is no (or unknown)
lakeops looks before every bronze write instead, which is racy, and ``lakeops verify`` says so.

The answer is kept for a day on disk (lakeops.ops.probe_cache), per endpoint and bucket, so
that one command does not pay for a probe. Only dataset jobs probe (``may_probe``): a one-file
upload without an answer looks, then writes conditionally, which is no more requests than a
probe.

The probe never stores anything, so any role that may write a bucket (ingest on bronze) may
ask: it sends the conditional PUT of the layout's first prefix marker (a zero-byte ``prefix/``
object the stack creates), with a ``Content-MD5`` that is not the body's. A server that
evaluates the condition answers 412 before it reads the body: it honours the header. One that
ignores the header reads the body and refuses the digest (400 BadDigest): it ignores it, or
checks the digest first (RGW on an unversioned bucket does), which lakeops takes as ignoring:
the mistake costs a look before each write, never a version. A missing marker, or any other
answer, gives no answer (an honouring server would also read the body of a new key). Measured
against moto 5.2 (412), Ceph RGW 16.2 over HTTP and HTTPS (BadDigest, versioned bucket or not,
no version added), and read in MinIO's source: cmd/object-handlers.go PutObjectHandler sets
``opts.CheckPrecondFn`` for If-None-Match, and cmd/erasure-object.go ``erasureObjects.putObject``
calls it (412) before it reads the data, whose MD5 the hash reader checks only at end of stream.
moto does not check Content-MD5 at all: where moto ignores the condition (the tests' header
stripping proxy) the probe is stored, which the probe reports as a warning. On AWS S3's own
endpoint, which documents that it enforces the condition, nothing is probed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from typing import TYPE_CHECKING

import botocore.exceptions

from lakeops.layout import LAYOUT, StorageLayer, marker_key
from lakeops.ops import probe_cache
from lakeops.s3errors import CONFLICT_CODES, error_code

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
        # than each sending one.
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


# The MD5 of a body other than the probe's (b"x"): no server may store the probe under it.
_WRONG_MD5 = base64.b64encode(hashlib.md5(b"x", usedforsecurity=False).digest()).decode()
_DIGEST_CODES = frozenset({"BadDigest", "InvalidDigest"})


def _probe(ctx: Context, layer: StorageLayer) -> bool | None:
    if ctx.config.endpoint_url is None:
        # AWS S3 itself: it refuses overwrites under If-None-Match on PutObject, versioned
        # buckets included (documented since August 2024). Nothing to probe.
        return True
    bucket = ctx.bucket(layer)
    marker = marker_key(LAYOUT[layer].prefixes[0])
    try:
        # Only an existing key tells: for a new one, an honouring server reads the body too.
        ctx.client.head_object(Bucket=bucket, Key=marker)
        ctx.client.put_object(
            Bucket=bucket, Key=marker, Body=b"", IfNoneMatch="*", ContentMD5=_WRONG_MD5
        )
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code in CONFLICT_CODES:
            return True
        if code in _DIGEST_CODES:
            return False
        log.debug("conditional-write probe of s3://%s/%s: %s", bucket, marker, exc)
        return None
    except botocore.exceptions.BotoCoreError as exc:
        log.debug("conditional-write probe of s3://%s/%s: %s", bucket, marker, exc)
        return None
    log.warning(
        "s3://%s/%s: the server stored a write whose Content-MD5 is not its body's, and "
        "ignored If-None-Match on it",
        bucket,
        marker,
    )
    return False
