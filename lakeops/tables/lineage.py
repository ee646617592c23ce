"""What a table's snapshot was made from: in its summary, and as OpenLineage events.

Every snapshot lakeops commits carries, in the snapshot summary (string properties Iceberg
keeps with the snapshot for as long as the snapshot lives):

* ``lakeops.inputs``: a JSON list of what it was made from, each pinned to a version: a bronze
  (or any) object with its version id, a published dataset with its manifest's version id, or
  a table with its snapshot id;
* ``lakeops.job``, ``lakeops.role``, ``lakeops.version``: the job, the pipeline role, and
  lakeops' version;
* ``lakeops.write-id``: a random id, by which lakeops finds its own snapshot after a commit
  that retried over other writers' snapshots.

A gold snapshot names the silver snapshot it read; that silver snapshot names the bronze
object versions it read: :func:`trace` follows the chain down to bronze.

With a lineage target (``lineage_target=`` or ``LAKEOPS_LINEAGE``: ``file:PATH`` or an
``http(s)://`` OpenLineage endpoint), each write also sends a START and a COMPLETE (or FAIL)
OpenLineage event whose inputs are the same datasets and whose output is the table, named as
the OpenLineage naming spec names S3 locations (:func:`lakeops.datasets.lineage.dataset_name`),
each with the version facet the summary records.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakeops._version import __version__
from lakeops.datasets.lineage import PRODUCER, LineageRun
from lakeops.datasets.lineage import dataset_name as s3_dataset_name
from lakeops.errors import NotPublishedError, ValidationError
from lakeops.layout import StorageLayer
from lakeops.locations import is_uri, resolve
from lakeops.tables.names import TableName

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from lakeops.lake import Lake


INPUTS = "lakeops.inputs"
JOB = "lakeops.job"
ROLE = "lakeops.role"
VERSION = "lakeops.version"
WRITE_ID = "lakeops.write-id"
# Table properties lakeops sets when it creates a table: its name as lakeops knows it.
TABLE_LAYER = "lakeops.layer"
TABLE_NAME = "lakeops.name"


@dataclass(frozen=True)
class Source:
    """One input of a snapshot, pinned to a version.

    ``kind`` is ``object`` (``uri`` and its ``version`` id), ``dataset`` (the prefix's ``uri``
    and its manifest's ``version`` id) or ``table`` (``layer``, ``name`` and its snapshot id
    as ``version``)."""

    kind: str
    uri: str
    version: str | None = None
    layer: str | None = None
    name: str | None = None

    def to_json(self) -> dict[str, str]:
        document = {"kind": self.kind, "uri": self.uri}
        for key in ("version", "layer", "name"):
            value = getattr(self, key)
            if value is not None:
                document[key] = value
        return document

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Source:
        return cls(
            kind=str(item.get("kind", "")),
            uri=str(item.get("uri", "")),
            version=item.get("version"),
            layer=item.get("layer"),
            name=item.get("name"),
        )

    @classmethod
    def table(cls, lake: Lake, layer: StorageLayer | str, name: str, snapshot_id: int) -> Source:
        parsed = TableName.parse(layer, name)
        return cls(
            kind="table",
            uri=lake.uri(parsed.layer, parsed.prefix),
            version=str(snapshot_id),
            layer=parsed.layer.value,
            name=str(parsed),
        )


def resolve_sources(lake: Lake, given: Sequence[Any] | None) -> list[Source]:
    """Pin every input to a version, before anything is written: an ``s3://`` URI of an object
    (its current version, unless the URI's ``?versionId=`` names one), an ``s3://`` URI ending
    in ``/`` of a published dataset (its manifest's version), a pyiceberg table loaded through
    lakeops (the snapshot it was loaded at), or a :class:`Source`."""
    if not given:
        return []
    if isinstance(given, str | Source):
        given = [given]
    sources = []
    for item in given:
        if isinstance(item, Source):
            sources.append(item)
        elif isinstance(item, str):
            sources.append(_source_of_uri(lake, item))
        elif hasattr(item, "metadata") and hasattr(item, "properties"):
            sources.append(_source_of_table(lake, item))
        else:
            raise ValidationError(
                f"lineage input {item!r:.80} is neither an s3:// URI, a table nor a Source.",
                hint="Name objects and datasets by URI (lake.uri(...)), tables by lake.table(...).",
            )
    return sources


def _source_of_uri(lake: Lake, uri: str) -> Source:
    if not is_uri(uri):
        raise ValidationError(
            f"lineage input {uri!r:.80} is not an s3:// URI of the lake.",
            hint="Give lake.uri(layer, key), for example s3://raw/postgres/users/users.csv.",
        )
    base, _, query = uri.partition("?versionId=")
    layer, key = resolve(lake.config.buckets, None, base)
    key = key or ""
    if key.endswith("/") or not key:
        manifest = lake.read_manifest(layer, key)
        if manifest is None:
            raise NotPublishedError(
                f"lineage input {base} is not a published dataset (it has no manifest).",
                hint="Name a published dataset's prefix, or its objects one by one.",
            )
        return Source("dataset", lake.uri(layer, manifest.prefix), manifest.version_id)
    if query:
        return Source("object", lake.uri(layer, key), query)
    return Source("object", lake.uri(layer, key), lake.stat(layer, key).version_id)


def _source_of_table(lake: Lake, table: Table) -> Source:
    properties = table.properties
    layer, name = properties.get(TABLE_LAYER), properties.get(TABLE_NAME)
    snapshot = table.current_snapshot()
    if layer is None or name is None:
        raise ValidationError(
            "a lineage input table was not created by lakeops, so its layer and name are not "
            "known.",
            hint="Give Source.table(lake, layer, name, snapshot_id) instead.",
        )
    if snapshot is None:
        raise ValidationError(f"lineage input table {layer} {name} has no snapshot: it is empty.")
    return Source.table(lake, layer, name, snapshot.snapshot_id)


def summary(lake: Lake, sources: Sequence[Source], job: str, write_id: str) -> dict[str, str]:
    return {
        INPUTS: json.dumps([source.to_json() for source in sources], separators=(",", ":")),
        JOB: job,
        ROLE: lake.config.role or "",
        VERSION: __version__,
        WRITE_ID: write_id,
    }


def summary_of(snapshot: Any) -> dict[str, str]:
    """A snapshot's summary properties (Iceberg's own and lakeops'), as strings."""
    found = snapshot.summary
    return dict(found.additional_properties) if found is not None else {}


def new_write_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class SnapshotLineage:
    """What a snapshot's summary says it was made from."""

    job: str | None
    role: str | None
    written_by: str | None
    inputs: tuple[Source, ...]

    @classmethod
    def of(cls, properties: Mapping[str, str]) -> SnapshotLineage:
        try:
            raw = json.loads(properties.get(INPUTS, "[]"))
        except ValueError:
            raw = []
        return cls(
            job=properties.get(JOB),
            role=properties.get(ROLE) or None,
            written_by=f"lakeops {properties[VERSION]}" if VERSION in properties else None,
            inputs=tuple(Source.from_json(item) for item in raw if isinstance(item, Mapping)),
        )


@dataclass
class TraceNode:
    """One input in a lineage trace; a table's node lists what its snapshot came from."""

    source: Source
    inputs: list[TraceNode] = field(default_factory=list)
    note: str = ""


def trace(lake: Lake, layer: StorageLayer | str, name: str, snapshot_id: int | None) -> TraceNode:
    """Follow a snapshot's inputs down, table by table, to the objects and datasets they read."""
    parsed = TableName.parse(layer, name)
    table = lake.table(parsed.layer, str(parsed))
    snapshot = table.snapshot_by_id(snapshot_id) if snapshot_id else table.current_snapshot()
    if snapshot is None:
        raise ValidationError(f"{parsed.layer} {parsed} has no snapshot {snapshot_id}.")
    root = Source.table(lake, parsed.layer, str(parsed), snapshot.snapshot_id)
    return _trace(lake, root, summary_of(snapshot), depth=0)


def _trace(lake: Lake, source: Source, properties: Mapping[str, str], depth: int) -> TraceNode:
    node = TraceNode(source)
    if depth > 20:
        node.note = "trace stopped: more than 20 tables deep"
        return node
    for item in SnapshotLineage.of(properties).inputs:
        if item.kind != "table" or item.layer is None or item.name is None:
            node.inputs.append(TraceNode(item))
            continue
        table = lake.table(item.layer, item.name)
        snapshot = table.snapshot_by_id(int(item.version)) if item.version else None
        if snapshot is None:
            node.inputs.append(TraceNode(item, note="snapshot expired: its inputs are gone"))
            continue
        node.inputs.append(_trace(lake, item, summary_of(snapshot), depth + 1))
    return node


class LineageEvents(LineageRun):
    """A table write's START, then COMPLETE or FAIL, OpenLineage events."""

    def emit(
        self,
        state: str,
        job: str,
        sources: Sequence[Source],
        output: TableName,
        *,
        snapshot_id: int | None = None,
        schema: Sequence[tuple[str, str]] = (),
    ) -> None:
        from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
        from openlineage.client.event_v2 import RunState as EventType
        from openlineage.client.facet_v2 import dataset_version_dataset, schema_dataset

        def versioned(version: str | None) -> dict[str, Any]:
            if version is None:
                return {}
            return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(version)}

        inputs = []
        for source in sources:
            layer, key = resolve(self._config.buckets, None, source.uri)
            namespace, name = s3_dataset_name(self._config, self._config.bucket(layer), key or "")
            inputs.append(
                InputDataset(namespace=namespace, name=name, facets=versioned(source.version))
            )
        namespace, name = s3_dataset_name(
            self._config, self._config.bucket(output.layer), output.prefix
        )
        facets = versioned(str(snapshot_id) if snapshot_id is not None else None)
        if schema:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name=column, type=kind)
                    for column, kind in schema
                ]
            )
        event = RunEvent(
            eventType=EventType[state],
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=self._run_id),
            job=Job(namespace=self._job_namespace, name=job),
            inputs=inputs,
            outputs=[OutputDataset(namespace=namespace, name=name, facets=facets)],
            producer=PRODUCER,
        )
        self.send(event, state, job)
