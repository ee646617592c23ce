"""lakeops: move data through the lake's medallion layers on MinIO or AWS S3.

The module functions ``upload_to_layer``, ``download_from_layer``, ``promote_data`` and
``list_layer_objects`` act on a default lake resolved from the environment (``LAKEOPS_ROLE``
chooses its role)::

    from lakeops import StorageLayer, upload_to_layer

    uri = upload_to_layer(
        "orders-2024-01-16.csv", StorageLayer.BRONZE, "files/orders/2024-01-16/orders.csv"
    )

For two lakes or two roles at once, or for tests, use :class:`Lake` with its own
configuration, as the README's walkthrough does::

    from lakeops import Lake

    ingest, transform = Lake(role="ingest"), Lake(role="transform")
"""

from lakeops._version import __version__
from lakeops.api import (
    default_lake,
    download_from_layer,
    download_prefix,
    iter_layer_objects,
    list_layer_objects,
    promote_data,
    promote_prefix,
    reset_default_lake,
    upload_folder,
    upload_to_layer,
)
from lakeops.config import LakeConfig, Timeouts
from lakeops.contract import Backend
from lakeops.datasets.manifest import Manifest, ManifestEntry
from lakeops.datasets.remove import RemovalResult
from lakeops.datasets.results import Action, DatasetResult, ItemFailure
from lakeops.datasets.runner import JobInterrupted, JobProgress
from lakeops.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ChecksFailedError,
    ConfigurationError,
    ConflictError,
    CredentialsRejectedError,
    DatasetChangedError,
    DatasetConflictError,
    DatasetIncompleteError,
    DatasetInvalidError,
    DatasetPublishedError,
    EmptyDatasetError,
    EndpointUnreachableError,
    ImmutableObjectError,
    IntegrityError,
    InvalidKeyError,
    InvalidManifestError,
    InvalidMetadataError,
    LakeOpsError,
    LocalFileError,
    LocalFileExistsError,
    NotFoundError,
    NotPublishedError,
    ObjectNotFoundError,
    PromotionDirectionError,
    ReplacedObjectError,
    SchemaMismatchError,
    StorageError,
    TableCommitConflictError,
    TableNotFoundError,
    UnknownLayerError,
    ValidationError,
)
from lakeops.lake import Lake
from lakeops.layout import LAYOUT, PROMOTION_ORDER, LayerSpec, StorageLayer
from lakeops.ops.history import ObjectVersion
from lakeops.results import (
    DownloadResult,
    Lineage,
    ObjectInfo,
    PlannedWrite,
    PromotionResult,
    UploadResult,
)
from lakeops.transfers import TransferSettings

__all__ = [
    "LAYOUT",
    "PROMOTION_ORDER",
    "AccessDeniedError",
    "Action",
    "Backend",
    "BucketNotFoundError",
    "ChecksFailedError",
    "ConfigurationError",
    "ConflictError",
    "CredentialsRejectedError",
    "DatasetChangedError",
    "DatasetConflictError",
    "DatasetIncompleteError",
    "DatasetInvalidError",
    "DatasetPublishedError",
    "DatasetResult",
    "DownloadResult",
    "EmptyDatasetError",
    "EndpointUnreachableError",
    "ImmutableObjectError",
    "IntegrityError",
    "InvalidKeyError",
    "InvalidManifestError",
    "InvalidMetadataError",
    "ItemFailure",
    "JobInterrupted",
    "JobProgress",
    "Lake",
    "LakeConfig",
    "LakeOpsError",
    "LayerSpec",
    "Lineage",
    "LocalFileError",
    "LocalFileExistsError",
    "Manifest",
    "ManifestEntry",
    "NotFoundError",
    "NotPublishedError",
    "ObjectInfo",
    "ObjectNotFoundError",
    "ObjectVersion",
    "PlannedWrite",
    "PromotionDirectionError",
    "PromotionResult",
    "RemovalResult",
    "ReplacedObjectError",
    "SchemaMismatchError",
    "StorageError",
    "StorageLayer",
    "TableCommitConflictError",
    "TableNotFoundError",
    "Timeouts",
    "TransferSettings",
    "UnknownLayerError",
    "UploadResult",
    "ValidationError",
    "__version__",
    "default_lake",
    "download_from_layer",
    "download_prefix",
    "iter_layer_objects",
    "list_layer_objects",
    "promote_data",
    "promote_prefix",
    "reset_default_lake",
    "upload_folder",
    "upload_to_layer",
]
