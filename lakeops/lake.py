"""The lake: one configuration, one client, and the operations pipelines use.

``Lake`` is the façade; each method hands over to one module of ``lakeops.ops`` (single
objects) or ``lakeops.datasets`` (many objects at once), all sharing one
:class:`~lakeops.ops.context.Context`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

from lakeops.config import LakeConfig
from lakeops.datasets import jobs, remove
from lakeops.datasets.manifest import Manifest, read_manifest
from lakeops.datasets.plan import dataset_prefix
from lakeops.datasets.published import published_membership
from lakeops.datasets.remove import RemovalResult
from lakeops.datasets.results import DatasetResult
from lakeops.datasets.runner import ProgressListener
from lakeops.datasets.verify import SAME_RECORDED_HASH, DatasetReport, verify_dataset
from lakeops.errors import DatasetChangedError, NotPublishedError, ValidationError
from lakeops.hashing import ProgressCallback
from lakeops.layout import StorageLayer
from lakeops.locations import resolve
from lakeops.ops import download, inspect, listing, preview, promote, stream, upload
from lakeops.ops.conditional import conditional_writes_enforced
from lakeops.ops.context import Context
from lakeops.ops.download import Pinned
from lakeops.ops.history import ObjectVersion, iter_versions, key_history
from lakeops.results import (
    DownloadResult,
    ObjectInfo,
    PlannedWrite,
    PromotionResult,
    UploadResult,
)
from lakeops.transfers import TransferSettings
from lakeops.validation import validate_existing_key, validate_prefix

if TYPE_CHECKING:
    import boto3
    from botocore.credentials import ReadOnlyCredentials
    from mypy_boto3_s3 import S3Client

# Where promotion jobs send OpenLineage events when no `lineage=` is given.
LINEAGE_VARIABLE = "LAKEOPS_LINEAGE"


class Lake:
    """A lake reached through one configuration and one S3 client.

    ``Lake()`` resolves its configuration like the module functions do; pass a
    :class:`LakeConfig`, or keyword overrides for :meth:`LakeConfig.resolve`, to choose.
    A Lake is safe to share between threads; ``close()`` (or ``with Lake() as lake:``) stops
    its transfer threads early, which the end of the process does anyway.

    Wherever a method asks for a layer and a key, an ``s3://bucket/key`` URI of the lake may
    be given in the layer's place (and the key left out).
    """

    def __init__(
        self,
        config: LakeConfig | None = None,
        *,
        transfer: TransferSettings | None = None,
        **overrides: Any,
    ) -> None:
        if config is not None and overrides:
            raise TypeError("pass either a LakeConfig or keyword overrides, not both")
        resolved = config if config is not None else LakeConfig.resolve(**overrides)
        settings = transfer or TransferSettings()
        settings = replace(settings, download_attempts=resolved.timeouts.max_attempts)
        self._ctx = Context(resolved, settings)
        self._duckdb: Any = None
        self._catalog: Any = None

    @property
    def config(self) -> LakeConfig:
        # Read-only: the client and its bronze hooks were built for this configuration.
        return self._ctx.config

    @property
    def transfer(self) -> TransferSettings:
        return self._ctx.transfer

    @property
    def client(self) -> S3Client:
        return self._ctx.client

    @property
    def session(self) -> boto3.session.Session:
        return self._ctx.session

    @property
    def context(self) -> Context:
        """What the operation modules work with (lakeops.ops): for extending lakeops."""
        return self._ctx

    def __repr__(self) -> str:
        return f"Lake({self.config!r})"

    def close(self) -> None:
        self._ctx.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def credentials(self) -> ReadOnlyCredentials | None:
        """The credentials this lake signs with, frozen now (None when none are found).

        For tools that take keys rather than a boto3 session: readers, other CLIs. Temporary
        credentials (a role, SSO) are valid only until they expire.
        """
        found = self.session.get_credentials()
        return found.get_frozen_credentials() if found is not None else None

    def uri(self, layer: StorageLayer | str, key: str = "") -> str:
        """``s3://bucket/key`` of a layer's key or prefix: a reader's glob or partition root."""
        return self._ctx.uri(StorageLayer.parse(layer), key)

    def _where(self, layer: StorageLayer | str | None, key: str | None) -> tuple[StorageLayer, str]:
        resolved, found = resolve(self.config.buckets, layer, key)
        return resolved, found or ""

    # -- looking -------------------------------------------------------------------------------

    def stat(
        self,
        layer: StorageLayer | str,
        object_key: str | None = None,
        *,
        version_id: str | None = None,
    ) -> ObjectInfo:
        """An object's size, ETag, version, content type, recorded SHA-256, metadata and
        lineage (``.head`` has the raw HEAD response)."""
        where, key = self._where(layer, object_key)
        return inspect.describe(self._ctx, where, key, version_id=version_id)

    def list_versions(
        self, layer: StorageLayer | str, object_key: str | None = None
    ) -> list[ObjectVersion]:
        """Every version and delete marker of one object, newest first."""
        where, key = self._where(layer, object_key)
        key = validate_existing_key(key)
        return key_history(self._ctx, self._ctx.target("list versions of", where, key))

    def iter_versions(
        self, layer: StorageLayer | str, prefix: str | None = ""
    ) -> Iterator[ObjectVersion]:
        """Every version and delete marker under a prefix, lazily."""
        where, found = self._where(layer, prefix)
        found = validate_prefix(found)
        return iter_versions(self._ctx, self._ctx.target("list versions under", where), found)

    # -- upload --------------------------------------------------------------------------------

    def upload(
        self,
        file_path: str | os.PathLike[str],
        layer: StorageLayer | str,
        object_key: str | None = None,
        metadata: Mapping[str, str] | None = None,
        *,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
        hash_progress: ProgressCallback | None = None,
    ) -> str:
        """Upload a local file and return its ``s3://bucket/key`` URI."""
        return self.put_file(
            file_path,
            layer,
            object_key,
            metadata,
            content_type=content_type,
            progress=progress,
            hash_progress=hash_progress,
        ).uri

    def put_file(
        self,
        file_path: str | os.PathLike[str],
        layer: StorageLayer | str,
        object_key: str | None = None,
        metadata: Mapping[str, str] | None = None,
        *,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
        hash_progress: ProgressCallback | None = None,
        report_replaced: bool = False,
    ) -> UploadResult:
        """Upload a local file; like :meth:`upload`, with the details of what happened.

        The key must lie under one of the layer's declared prefixes. On bronze the write is
        conditional: an existing key is never replaced. Uploading the same content again
        succeeds with ``created=False``; different content raises
        :class:`ImmutableObjectError` and leaves the stored object as it was. On silver and
        gold, ``report_replaced`` looks first (one HEAD) so that the result says which version
        the upload replaced (``replaced``, ``replaced_version_id``).
        """
        where, key = self._where(layer, object_key)
        return upload.put_file(
            self._ctx,
            file_path,
            where,
            key,
            metadata,
            content_type=content_type,
            progress=progress,
            hash_progress=hash_progress,
            report_replaced=report_replaced,
        )

    def preview_upload(
        self,
        file_path: str | os.PathLike[str],
        layer: StorageLayer | str,
        object_key: str | None = None,
        metadata: Mapping[str, str] | None = None,
        *,
        content_type: str | None = None,
    ) -> PlannedWrite:
        """What :meth:`put_file` would do, found out without writing: the same checks, and
        the error the upload would raise (a bronze key holding other content, say)."""
        where, key = self._where(layer, object_key)
        return preview.preview_put(
            self._ctx, file_path, where, key, metadata, content_type=content_type
        )

    # -- download ------------------------------------------------------------------------------

    def download(
        self,
        layer: StorageLayer | str,
        object_key: str | None,
        file_path: str | os.PathLike[str],
        *,
        version_id: str | None = None,
        progress: ProgressCallback | None = None,
        hash_progress: ProgressCallback | None = None,
    ) -> str:
        """Download an object to ``file_path`` atomically and return the path."""
        self.get_file(
            layer,
            object_key,
            file_path,
            version_id=version_id,
            progress=progress,
            hash_progress=hash_progress,
        )
        return str(file_path)

    def get_file(
        self,
        layer: StorageLayer | str,
        object_key: str | None,
        file_path: str | os.PathLike[str],
        *,
        version_id: str | None = None,
        progress: ProgressCallback | None = None,
        hash_progress: ProgressCallback | None = None,
        check_published: bool = False,
    ) -> DownloadResult:
        """Download like :meth:`download`, returning the details.

        The bytes go to a temporary file beside the target, are checked against the SHA-256
        recorded at upload when there is one, and only then renamed over the target. A failed
        or interrupted download leaves the target as it was. On bronze, an object whose current
        version is not its first (someone wrote over it) raises :class:`ReplacedObjectError`
        unless a ``version_id`` is given.

        With ``check_published`` (and no ``version_id``), a key that belongs to a published
        dataset is checked against the dataset's manifest instead (one GET per prefix level
        above the key to find it): bytes that differ from those published raise
        :class:`IntegrityError` naming the published version. ``published_in`` says which.
        """
        where, key = self._where(layer, object_key)
        return download.get_file(
            self._ctx,
            where,
            key,
            file_path,
            version_id=version_id,
            progress=progress,
            hash_progress=hash_progress,
            pinned=self._pinned(where, key) if check_published and version_id is None else None,
        )

    def stream_file(
        self,
        layer: StorageLayer | str,
        object_key: str | None,
        sink: BinaryIO,
        *,
        version_id: str | None = None,
        check_published: bool = False,
    ) -> DownloadResult:
        """Write an object's bytes to a binary stream as they arrive, hashed on the way. A
        mismatch with the recorded SHA-256 (or, with ``check_published``, the manifest) is
        raised at the end as :class:`IntegrityError`: the bytes written are not to be trusted."""
        where, key = self._where(layer, object_key)
        pinned = self._pinned(where, key) if check_published and version_id is None else None
        return stream.stream_object(
            self._ctx, where, key, sink, version_id=version_id, pinned=pinned
        )

    def preview_download(
        self,
        layer: StorageLayer | str,
        object_key: str | None,
        destination: str,
        *,
        version_id: str | None = None,
        check_published: bool = False,
    ) -> PlannedWrite:
        """What :meth:`get_file` would do, without writing."""
        where, key = self._where(layer, object_key)
        pinned = self._pinned(where, key) if check_published and version_id is None else None
        return preview.preview_get(
            self._ctx,
            where,
            key,
            destination,
            version_id=version_id,
            pinned=pinned,
        )

    def _pinned(self, layer: StorageLayer, key: str) -> Pinned | None:
        member = published_membership(self._ctx, layer, validate_existing_key(key))
        return member.pinned() if member is not None else None

    # -- listing -------------------------------------------------------------------------------

    def iter_objects(
        self,
        layer: StorageLayer | str,
        prefix: str | None = "",
        *,
        include_markers: bool = False,
        page_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """The layer's objects under ``prefix``, fetched lazily one page of keys at a time.

        Each item is S3's own listing entry (``Key``, ``Size``, ``LastModified``, ``ETag``,
        ...). The layout's prefix markers are left out unless ``include_markers``. The layer
        and prefix are checked at once; requests start when iteration does.
        """
        where, found = self._where(layer, prefix)
        return listing.iter_objects(
            self._ctx, where, found, include_markers=include_markers, page_size=page_size
        )

    def list_objects(
        self,
        layer: StorageLayer | str,
        prefix: str | None = "",
        *,
        include_markers: bool = False,
    ) -> list[dict[str, Any]]:
        return list(self.iter_objects(layer, prefix, include_markers=include_markers))

    # -- promotion -----------------------------------------------------------------------------

    def promote(
        self,
        object_key: str,
        source_layer: StorageLayer | str | None = None,
        target_layer: StorageLayer | str | None = None,
        target_key: str | None = None,
        *,
        version_id: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Copy an object forward to another layer, server-side; return the target URI."""
        return self.promote_object(
            object_key,
            source_layer,
            target_layer,
            target_key,
            version_id=version_id,
            progress=progress,
        ).uri

    def promote_object(
        self,
        object_key: str,
        source_layer: StorageLayer | str | None = None,
        target_layer: StorageLayer | str | None = None,
        target_key: str | None = None,
        *,
        version_id: str | None = None,
        progress: ProgressCallback | None = None,
        report_replaced: bool = False,
    ) -> PromotionResult:
        """Promote like :meth:`promote`, returning the details.

        The bytes never pass through this machine: objects below the copy threshold use one
        CopyObject, larger ones a managed multipart copy. The target keeps the source's
        content type and user metadata and gains lineage metadata. The target key (by
        default the source key) must lie under one of the target layer's prefixes.
        ``object_key`` and ``target_key`` may be URIs of the lake instead of layer and key.
        ``report_replaced`` looks at the target first (one HEAD) so that the result says which
        version the copy replaced.
        """
        source, key, destination, new_key = self._promotion(
            object_key, source_layer, target_layer, target_key
        )
        return promote.promote_object(
            self._ctx,
            key,
            source,
            destination,
            new_key,
            version_id=version_id,
            progress=progress,
            report_replaced=report_replaced,
        )

    def preview_promote(
        self,
        object_key: str,
        source_layer: StorageLayer | str | None = None,
        target_layer: StorageLayer | str | None = None,
        target_key: str | None = None,
        *,
        version_id: str | None = None,
    ) -> PlannedWrite:
        """What :meth:`promote_object` would do, without writing."""
        source, key, destination, new_key = self._promotion(
            object_key, source_layer, target_layer, target_key
        )
        return preview.preview_promote(
            self._ctx, key, source, destination, new_key, version_id=version_id
        )

    def _promotion(
        self,
        object_key: str,
        source_layer: StorageLayer | str | None,
        target_layer: StorageLayer | str | None,
        target_key: str | None,
    ) -> tuple[StorageLayer, str, StorageLayer, str | None]:
        source, key = self._where(source_layer, object_key)
        if target_layer is None and target_key is None:
            raise ValidationError(
                "promotion needs a target: a layer, or a target URI of the lake.",
                hint="Name the layer to promote to, for example target_layer='silver'.",
            )
        destination, new_key = resolve(self.config.buckets, target_layer, target_key)
        return source, key, destination, new_key

    # -- removal -------------------------------------------------------------------------------

    def remove(
        self,
        layer: StorageLayer | str,
        key: str | None,
        *,
        recursive: bool = False,
        dry_run: bool = False,
    ) -> RemovalResult:
        """Remove an object, or (``recursive``) every object under a prefix, from silver or
        gold. On a versioned bucket each removal adds a delete marker: the old versions stay
        recoverable. Bronze raises :class:`ImmutableObjectError`; an object of a published
        dataset raises :class:`DatasetPublishedError` (a dataset goes only as a whole, and
        removing it removes its manifest first: it is unpublished). ``dry_run`` says what
        would go and removes nothing."""
        where, found = self._where(layer, key)
        return remove.remove(self._ctx, where, found, recursive=recursive, dry_run=dry_run)

    # -- datasets ------------------------------------------------------------------------------

    def upload_folder(
        self,
        local_dir: str | os.PathLike[str],
        layer: StorageLayer | str,
        prefix: str | None = None,
        *,
        include: Sequence[str] | str | None = None,
        exclude: Sequence[str] | str | None = None,
        metadata: Mapping[str, str] | None = None,
        workers: int | None = None,
        dry_run: bool = False,
        skip_conflicts: bool = False,
        publish: bool = True,
        progress: ProgressListener | None = None,
    ) -> DatasetResult:
        """Upload a local folder to a layer's prefix as one dataset, and publish it.

        Plans first: every file is new, identical (skipped), or in conflict (on bronze,
        different content under an existing key); conflicts stop the job before any write
        (:class:`DatasetConflictError`) unless ``skip_conflicts``. Then ``workers`` files at
        once, each under :meth:`put_file`'s rules; a failure does not stop the others, and
        raises :class:`DatasetIncompleteError` at the end. When all are written and verified,
        writes the manifest and ``_SUCCESS`` (unless ``publish=False``). Running it again
        finishes an interrupted job. ``dry_run`` returns the plan and writes nothing.
        """
        where, found = self._where(layer, prefix)
        return jobs.upload_folder(
            self._ctx,
            local_dir,
            where,
            found,
            include=include,
            exclude=exclude,
            metadata=metadata,
            workers=workers,
            dry_run=dry_run,
            skip_conflicts=skip_conflicts,
            publish_dataset=publish,
            progress=progress,
        )

    def download_prefix(
        self,
        layer: StorageLayer | str,
        prefix: str | None = None,
        local_dir: str | os.PathLike[str] | None = None,
        *,
        include: Sequence[str] | str | None = None,
        exclude: Sequence[str] | str | None = None,
        workers: int | None = None,
        dry_run: bool = False,
        overwrite: bool = False,
        use_manifest: bool | None = None,
        progress: ProgressListener | None = None,
    ) -> DatasetResult:
        """Download a prefix to a local folder, every file verified and written atomically.

        A published dataset is read through its manifest, at the versions published (all of
        it, or nothing); ``use_manifest=False`` takes the live objects instead. Local files
        with the same content are skipped; different ones are conflicts unless ``overwrite``.
        """
        if local_dir is None:
            raise ValidationError(
                "download_prefix needs a local folder.", hint="Pass local_dir='some/folder'."
            )
        where, found = self._where(layer, prefix)
        return jobs.download_prefix(
            self._ctx,
            where,
            found,
            local_dir,
            include=include,
            exclude=exclude,
            workers=workers,
            dry_run=dry_run,
            overwrite=overwrite,
            use_manifest=use_manifest,
            progress=progress,
        )

    def promote_prefix(
        self,
        source_layer: StorageLayer | str,
        prefix: str | None = None,
        target_layer: StorageLayer | str | None = None,
        target_prefix: str | None = None,
        *,
        include: Sequence[str] | str | None = None,
        exclude: Sequence[str] | str | None = None,
        workers: int | None = None,
        dry_run: bool = False,
        publish: bool = True,
        use_manifest: bool | None = None,
        lineage: str | None = None,
        progress: ProgressListener | None = None,
    ) -> DatasetResult:
        """Promote a prefix forward to another layer's prefix, server-side, and publish it.

        Each object is copied under :meth:`promote_object`'s rules (lineage, pinned source
        version). From a published source the manifest gives every object's metadata, so no
        HEAD is sent per object. ``lineage`` (or ``LAKEOPS_LINEAGE``) names where OpenLineage
        events go: ``file:/path/events.jsonl`` or an ``http(s)://`` endpoint such as Marquez.
        """
        source, found = self._where(source_layer, prefix)
        if target_layer is None and target_prefix is None:
            raise ValidationError(
                "promotion needs a target: a layer and prefix, or a target URI of the lake.",
                hint="For example target_layer='silver', target_prefix='cleaned/orders/'.",
            )
        destination, new_prefix = resolve(self.config.buckets, target_layer, target_prefix)
        target = lineage if lineage is not None else os.environ.get(LINEAGE_VARIABLE) or None
        observer = None
        if target is not None and not dry_run:
            from lakeops.datasets.lineage import LineageEmitter

            observer = LineageEmitter(target, self.config)
        return jobs.promote_prefix(
            self._ctx,
            source,
            found,
            destination,
            new_prefix or "",
            include=include,
            exclude=exclude,
            workers=workers,
            dry_run=dry_run,
            publish_dataset=publish,
            use_manifest=use_manifest,
            progress=progress,
            observer=observer,
        )

    def read_manifest(
        self, layer: StorageLayer | str, prefix: str | None = None, *, version_id: str | None = None
    ) -> Manifest | None:
        """The manifest of the dataset published at a prefix; None if it was never published."""
        where, found = self._where(layer, prefix)
        checked = dataset_prefix(where, found, writing=False)
        return read_manifest(self._ctx, where, checked, version_id=version_id)

    def dataset_files(self, layer: StorageLayer | str, prefix: str | None = None) -> list[str]:
        """The ``s3://`` URIs of a published dataset's objects, from its manifest: hand them to
        any reader to read exactly the dataset, and nothing written beside it since.

        Readers read the live objects (they cannot pin versions), so the live objects are
        first checked against the manifest (one listing, by version and recorded SHA-256):
        if any was replaced or deleted since publication, DatasetChangedError instead of
        URIs that would read other data. ``download --recursive`` reads the published
        versions themselves."""
        where, found = self._where(layer, prefix)
        manifest = self.read_manifest(where, found)
        if manifest is None:
            raise NotPublishedError(
                f"{self.uri(where, dataset_prefix(where, found, writing=False))} has no manifest: "
                "it was never published (or is still being written).",
                hint="Publish it with upload --recursive or promote --recursive, or read the live "
                "objects with a glob.",
            )
        report = verify_dataset(self._ctx, where, manifest.prefix)
        # A rewritten object that only its metadata says is the same is not handed out: the
        # metadata is anyone's to copy (verify --deep reads its bytes).
        changed = [
            row
            for row in report.rows
            if (not row.ok or row.result == SAME_RECORDED_HASH) and row.result != "extra"
        ]
        if changed:
            shown = "; ".join(f"{row.key} ({row.result})" for row in changed[:10])
            raise DatasetChangedError(
                f"{len(changed)} of {len(manifest.entries)} objects of {report.dataset} changed "
                f"since it was published ({manifest.written_at}): {shown}. Their URIs would "
                "read other data.",
                hint="Download the published versions (lakeops download --recursive reads them "
                "by version), or publish the new data under a new prefix.",
            )
        return list(manifest.uris(self.config.bucket(where)))

    def verify_dataset(
        self,
        layer: StorageLayer | str,
        prefix: str | None = None,
        *,
        deep: bool = False,
        progress: ProgressCallback | None = None,
    ) -> DatasetReport:
        """Compare a published dataset's live objects with its manifest, by content: by
        version and recorded SHA-256, or (``deep``) by hashing every published version."""
        where, found = self._where(layer, prefix)
        return verify_dataset(self._ctx, where, found, deep=deep, progress=progress)

    def enforces_conditional_writes(self, layer: StorageLayer | str) -> bool | None:
        """Whether the server refuses overwrites under ``If-None-Match: *`` in this layer's
        bucket (None: it could not be told). Asked once per bucket and process."""
        return conditional_writes_enforced(self._ctx, StorageLayer.parse(layer))

    # -- readers (lakeops.readers; each needs its extra) ---------------------------------------

    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options for pandas, Dask and fsspec-based PyArrow (``lakeops[pandas]``)."""
        from lakeops import readers

        return readers.storage_options(self)

    def polars_storage_options(self) -> dict[str, str]:
        """Polars' object_store options (``lakeops[polars]``)."""
        from lakeops import readers

        return readers.polars_storage_options(self)

    def duckdb(self, connection: Any = None) -> Any:
        """A DuckDB connection with httpfs loaded offline and a secret scoped to the lake's
        buckets (``lakeops[duckdb]``); given one, it is set up the same way. With tables
        (``lakeops[tables]``), each table the role can read is a view by its name
        (``SELECT * FROM cleaned.users``), made again at each call (lakeops.tables.duckdb).

        The lake keeps the connection it makes, and gives the same one again: DuckDB closes a
        connection nothing refers to, which would break ``lake.duckdb().sql(...).fetchall()``.
        Use ``.cursor()`` of it for other threads.
        """
        from lakeops import readers
        from lakeops.tables.duckdb import create_views

        if connection is not None:
            connection = readers.duckdb_connection(self, connection)
            create_views(self, connection)
            return connection
        if self._duckdb is None:
            self._duckdb = readers.duckdb_connection(self)
        create_views(self, self._duckdb)
        return self._duckdb

    def pyarrow_filesystem(self) -> Any:
        """A ``pyarrow.fs.S3FileSystem`` for the lake (``lakeops[arrow]``)."""
        from lakeops import readers

        return readers.pyarrow_filesystem(self)

    def environment(self, *, show_secrets: bool = False) -> dict[str, str]:
        """The variables aws-cli, s5cmd, rclone and DuckDB read, secrets masked unless asked."""
        from lakeops import readers

        return readers.environment(self, show_secrets=show_secrets)

    # -- tables (lakeops.tables; lakeops[tables]) -----------------------------------------------

    def catalog(self) -> Any:
        """The pyiceberg catalog the stack declares, as this lake's role (one per lake)."""
        if self._catalog is None:
            from lakeops.tables.catalog import open_catalog

            self._catalog = open_catalog(self)
        return self._catalog

    def table(self, layer: StorageLayer | str, name: str) -> Any:
        """The pyiceberg table ``NAMESPACE.TABLE`` of a layer (``cleaned.users``), loaded now:
        for ``pl.scan_iceberg``, or pyiceberg's own API."""
        from lakeops.tables.names import TableName
        from lakeops.tables.write import load

        return load(self, TableName.parse(layer, name))

    def tables(self, layer: StorageLayer | str) -> list[str]:
        """The names of a layer's tables."""
        from lakeops.tables.history import list_tables

        return list_tables(self, layer)

    def write_table(
        self,
        layer: StorageLayer | str,
        name: str,
        data: Any,
        *,
        mode: str = "append",
        partition_by: Sequence[str] | None = None,
        checks: object = None,
        lineage: Sequence[Any] | None = None,
        job: str | None = None,
        lineage_target: str | None = None,
    ) -> Any:
        """Write a PyArrow table or a pandas or Polars frame to a silver or gold table, in one
        snapshot: ``mode="append"`` adds the rows, ``"overwrite"`` replaces them all. The first
        write creates the table from the data's schema (and ``partition_by``: columns, or
        ``day(column)`` and the like); later writes must match it. ``checks`` run first, and
        a failure writes nothing. ``lineage`` names what the data was made from (``s3://``
        URIs of objects or published datasets, tables from :meth:`table`), pinned to versions
        in the snapshot's summary; ``lineage_target`` (or ``LAKEOPS_LINEAGE``) also sends
        OpenLineage events. Returns a ``WriteResult``."""
        from lakeops.tables.write import write_table

        return write_table(
            self,
            layer,
            name,
            data,
            mode=mode,
            partition_by=partition_by,
            checks=checks,
            lineage_inputs=lineage,
            job=job,
            lineage_target=self._lineage_target(lineage_target),
        )

    def register_dataset(
        self,
        layer: StorageLayer | str,
        prefix: str,
        name: str,
        *,
        job: str | None = None,
        lineage_target: str | None = None,
    ) -> Any:
        """Add the Parquet files of the dataset published at ``prefix`` (checked against its
        manifest) to table ``name`` of the same layer, without rewriting them; pyiceberg checks
        each file's schema. The table is created from the first file's schema if need be."""
        from lakeops.tables.write import register_dataset

        where, found = self._where(layer, prefix)
        return register_dataset(
            self, where, found, name, job=job, lineage_target=self._lineage_target(lineage_target)
        )

    def read_table(
        self,
        layer: StorageLayer | str,
        name: str,
        *,
        as_of: Any = None,
        snapshot_id: int | None = None,
        columns: Sequence[str] | None = None,
        row_filter: Any = None,
    ) -> Any:
        """A table's rows as a PyArrow table: the current snapshot, ``snapshot_id``, or the
        one current at ``as_of`` (a datetime, ISO 8601 text, or epoch milliseconds).
        ``row_filter`` is pyiceberg's (``"country = 'GB'"``); ``.to_pandas()`` for pandas."""
        from lakeops.tables.read import read_table

        return read_table(
            self,
            layer,
            name,
            as_of=as_of,
            snapshot_id=snapshot_id,
            columns=columns,
            row_filter=row_filter,
        )

    def read_table_batches(self, layer: StorageLayer | str, name: str, **options: Any) -> Any:
        """Like :meth:`read_table`, as a PyArrow RecordBatchReader: memory bounded by a batch."""
        from lakeops.tables.read import read_batches

        return read_batches(self, layer, name, **options)

    def describe_table(self, layer: StorageLayer | str, name: str) -> Any:
        """Schema, partitioning, location, current snapshot, files, rows (``lakeops table``)."""
        from lakeops.tables.history import describe

        return describe(self, layer, name)

    def table_history(self, layer: StorageLayer | str, name: str) -> list[Any]:
        """Every snapshot, oldest first, with its rows added and removed and its lineage."""
        from lakeops.tables.history import history

        return history(self, layer, name)

    def table_lineage(
        self, layer: StorageLayer | str, name: str, snapshot_id: int | None = None
    ) -> Any:
        """What a snapshot (the current one by default) was made from, followed through every
        input table down to the object versions and datasets it read."""
        from lakeops.tables.lineage import trace

        return trace(self, layer, name, snapshot_id)

    def rollback_table(self, layer: StorageLayer | str, name: str, snapshot_id: int) -> Any:
        """Make an earlier (or a rolled-back later) snapshot current again."""
        from lakeops.tables.history import rollback

        return rollback(self, layer, name, snapshot_id)

    def expire_snapshots(
        self, layer: StorageLayer | str, name: str, *, older_than: Any, retain_last: int = 1
    ) -> Any:
        """Expire snapshots older than ``older_than`` (a timedelta, or ``"7d"``), keeping the
        ``retain_last`` latest, and delete the files only they referenced."""
        from lakeops.tables.history import expire, parse_duration

        age = parse_duration(older_than) if isinstance(older_than, str) else older_than
        return expire(self, layer, name, older_than=age, retain_last=retain_last)

    def verify_table(self, layer: StorageLayer | str, name: str, *, deep: bool = False) -> Any:
        """Check that every data file of the current snapshot exists with its recorded size
        (``deep``: read each and count its rows)."""
        from lakeops.tables.history import verify

        return verify(self, layer, name, deep=deep)

    @staticmethod
    def _lineage_target(given: str | None) -> str | None:
        return given if given is not None else os.environ.get(LINEAGE_VARIABLE) or None
