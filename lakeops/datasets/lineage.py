"""OpenLineage events for promotion jobs (the optional extra ``lakeops[lineage]``).

One run per ``promote_prefix`` job: a START event before the copies, then COMPLETE or FAIL,
with the source dataset as input and the target as output, sent to a file or to an HTTP
endpoint such as Marquez through the OpenLineage client's own transports.

Naming follows the OpenLineage naming spec. On AWS a dataset is namespace ``s3://<bucket>``,
name ``<prefix>``. On any other endpoint the namespace is the endpoint itself
(``http://localhost:9000``) and the name ``<bucket>/<prefix>``, so that the dev lake's
``raw`` and a production ``raw`` can never be taken for one another.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lakeops._version import __version__
from lakeops.errors import ConfigurationError
from lakeops.redaction import redact_url, scrub

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from lakeops.config import LakeConfig
    from lakeops.datasets.plan import Plan
    from lakeops.datasets.results import DatasetResult

PRODUCER = f"https://github.com/lakeops/lakeops/tree/v{__version__}"
JOB_NAMESPACE_VARIABLE = "OPENLINEAGE_NAMESPACE"
DEFAULT_JOB_NAMESPACE = "lakeops"


def dataset_name(config: LakeConfig, bucket: str, prefix: str) -> tuple[str, str]:
    """(namespace, name) of a dataset in the lake, per the OpenLineage naming spec."""
    if config.endpoint_url is None:
        return f"s3://{bucket}", prefix.rstrip("/") or "/"
    return config.endpoint_url, f"{bucket}/{prefix}".rstrip("/")


class LineageRun:
    """One run's OpenLineage events, sent to ``target``: a ``file:`` path (one JSON event per
    line, appended) or an ``http(s)://`` URL of an OpenLineage endpoint (Marquez:
    ``http://localhost:5000``). Promotions and table writes each describe their own events."""

    def __init__(self, target: str, config: LakeConfig) -> None:
        try:
            from openlineage.client import OpenLineageClient
        except ImportError:
            raise ConfigurationError(
                "lineage events need the OpenLineage client, which is not installed.",
                hint="Install the extra: pip install 'lakeops[lineage]'.",
            ) from None
        # Shown only redacted: an endpoint's URL may hold its token (user:token@, ?api_key=).
        self._shown_target = redact_url(target)
        self._client = OpenLineageClient(transport=transport(target))
        self._config = config
        self._run_id = str(uuid.uuid4())
        self._job_namespace = os.environ.get(JOB_NAMESPACE_VARIABLE) or DEFAULT_JOB_NAMESPACE

    def send(self, event: Any, state: str, job: str) -> None:
        try:
            self._client.emit(event)
        except Exception as exc:
            # Lineage is a record of the job, not part of it: a lineage server that is down
            # must neither stop a job nor fail one that published its data.
            log.warning(
                "the OpenLineage %s event of %s could not be sent to %s: %s",
                state,
                job,
                self._shown_target,
                scrub(str(exc))[:300],
            )


class LineageEmitter(LineageRun):
    """A promotion job's START and COMPLETE (or FAIL) events."""

    def started(self, plan: Plan) -> None:
        self._emit("START", plan, None)

    def finished(self, plan: Plan, result: DatasetResult) -> None:
        self._emit("COMPLETE" if result.ok else "FAIL", plan, result)

    def _emit(self, state: str, plan: Plan, result: DatasetResult | None) -> None:
        from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
        from openlineage.client.event_v2 import RunState as EventType
        from openlineage.client.facet_v2 import (
            dataset_version_dataset,
            output_statistics_output_dataset,
        )

        assert plan.source_layer is not None and plan.source_prefix is not None
        source_ns, source_name = dataset_name(
            self._config, self._config.bucket(plan.source_layer), plan.source_prefix
        )
        target_ns, target_name = dataset_name(
            self._config, self._config.bucket(plan.layer), plan.prefix
        )
        input_facets: dict[str, Any] = {}
        if plan.source_manifest is not None and plan.source_manifest.version_id:
            input_facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=plan.source_manifest.version_id
            )
        output_facets: dict[str, Any] = {}
        if result is not None:
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    size=result.bytes_transferred, fileCount=result.transferred
                )
            )
            if result.manifest_version_id:
                output_facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=result.manifest_version_id
                )
        event = RunEvent(
            eventType=EventType[state],
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=self._run_id),
            job=Job(namespace=self._job_namespace, name=job_name(plan)),
            inputs=[InputDataset(namespace=source_ns, name=source_name, facets=input_facets)],
            outputs=[OutputDataset(namespace=target_ns, name=target_name, facets=output_facets)],
            producer=PRODUCER,
        )
        self.send(event, state, job_name(plan))


def job_name(plan: Plan) -> str:
    return f"promote {plan.source} -> {plan.target}"


def transport(target: str) -> Any:
    parts = urlsplit(target)
    if parts.scheme == "file" or (not parts.scheme and target):
        from openlineage.client.transport.file import FileConfig, FileTransport

        path = parts.path if parts.scheme == "file" else target
        return FileTransport(FileConfig(log_file_path=path, append=True))
    if parts.scheme in ("http", "https"):
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        # Three tries over about two seconds, not the client's five over nine: a lineage
        # server that is down costs a job a warning, not a long stall per event.
        return HttpTransport(HttpConfig(url=target, retry={"total": 3, "connect": 3, "read": 3}))
    raise ConfigurationError(
        f"lineage target {redact_url(target)[:80]!r} is neither a file nor an http(s) URL.",
        hint="Use file:/path/events.jsonl, or the OpenLineage endpoint (http://marquez:5000).",
    )
