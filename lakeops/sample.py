"""The sample dataset that ships with lakeops, and uploading it to bronze."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from lakeops.hashing import ProgressCallback
from lakeops.lake import Lake
from lakeops.layout import StorageLayer
from lakeops.results import UploadResult

EXTRACT_DATE = "2024-01-15"


@dataclass(frozen=True)
class SampleFile:
    name: str
    key: str
    metadata: dict[str, str]


SAMPLE_FILES = (
    SampleFile(
        "users.csv",
        f"postgres/users/{EXTRACT_DATE}/users.csv",
        {"source": "postgres", "table": "users", "dataset": "lakeops-sample"},
    ),
    SampleFile(
        "orders.csv",
        f"files/orders/{EXTRACT_DATE}/orders.csv",
        {"source": "files", "file": "orders.csv", "dataset": "lakeops-sample"},
    ),
)


def upload_sample(
    lake: Lake, progress_for: Callable[[SampleFile], ProgressCallback | None] | None = None
) -> list[UploadResult]:
    """Upload the sample to bronze under fixed keys, so that running it twice is harmless."""
    results = []
    package = resources.files("lakeops.sample_data")
    for sample in SAMPLE_FILES:
        with resources.as_file(package / sample.name) as path:
            results.append(
                lake.put_file(
                    path,
                    StorageLayer.BRONZE,
                    sample.key,
                    sample.metadata,
                    content_type="text/csv",
                    progress=progress_for(sample) if progress_for else None,
                )
            )
    return results
