"""lakeops.readers: pandas (s3fs), Polars, DuckDB and PyArrow read the lake over real HTTP.

The datasets are written through lakeops, into buckets that carry the layout's prefix
markers (the zero-byte ``cleaned/`` objects), and read back with globs and Hive partitions.
Role tests run on the IAM-enforcing moto; TLS tests on a moto behind a private CA; settings
tests need no server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import fsspec
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import s3fs

from lakeinfra.policies import role_policy
from lakeops import ConfigurationError, Lake, LakeConfig, StorageLayer, readers
from lakeops.layout import LAYOUT, marker_key
from tests.conftest import config_for, s3_client
from tests.support.buckets import create_versioned_bucket, purge_bucket, unique_bucket_names
from tests.support.iam import create_iam_user
from tests.support.s3server import REGION, S3Endpoint, set_auth_enforcement
from tests.support.tls import CertificateFiles, make_certificates, start_tls_moto

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD

# Two Hive partitions of one dataset; every reader must return exactly these rows.
ORDERS = {"2024-01-15": [(1, 10.5), (2, 20.0)], "2024-01-16": [(3, 7.25)]}
EXPECTED = [(1, 10.5, "2024-01-15"), (2, 20.0, "2024-01-15"), (3, 7.25, "2024-01-16")]
SILVER_ORDERS = "cleaned/orders/"
BRONZE_ORDERS = "postgres/orders/"
GOLD_DAILY = "aggregated/daily_revenue/"
READER_NAMES = ("pandas", "polars", "duckdb", "pyarrow")

# Each reader's refusal, as it reports a 403.
REFUSALS: dict[str, tuple[type[BaseException], str]] = {
    "pandas": (PermissionError, "Access Denied|Forbidden"),
    "polars": (OSError, "403"),
    "duckdb": (duckdb.HTTPException, "403"),
    "pyarrow": (OSError, "ACCESS_DENIED"),
}


# -- the data ----------------------------------------------------------------------------------


def put_markers(client: S3Client, buckets: dict[StorageLayer, str]) -> None:
    """The layout's prefix markers, as the stacks create them: zero-byte '<prefix>/' objects."""
    for layer, spec in LAYOUT.items():
        for prefix in spec.prefixes:
            client.put_object(Bucket=buckets[layer], Key=marker_key(prefix), Body=b"")


def upload_orders(lake: Lake, folder: Path) -> None:
    """The orders dataset through lakeops: Parquet in silver, CSV in bronze, one file per day."""
    for day, rows in ORDERS.items():
        ids, amounts = [r[0] for r in rows], [r[1] for r in rows]
        parquet = folder / f"orders-{day}.parquet"
        pq.write_table(pa.table({"id": ids, "amount": amounts}), parquet)
        lake.upload(parquet, SILVER, f"{SILVER_ORDERS}date={day}/part-0.parquet")
        csv = folder / f"orders-{day}.csv"
        csv.write_text("id,amount\n" + "".join(f"{i},{a}\n" for i, a in rows))
        lake.upload(csv, BRONZE, f"{BRONZE_ORDERS}date={day}/orders.csv")
    revenue = folder / "daily_revenue.parquet"
    pq.write_table(pa.table({"day": list(ORDERS), "orders": [2, 1]}), revenue)
    lake.upload(revenue, GOLD, f"{GOLD_DAILY}part-0.parquet")


def rows_of(frame: pd.DataFrame) -> list[tuple[int, float, str]]:
    """(id, amount, date) sorted by id, the date as text whatever type the reader inferred."""
    ordered = frame.sort_values("id")
    return [
        (int(i), float(a), str(d)[:10])
        for i, a, d in zip(ordered["id"], ordered["amount"], ordered["date"], strict=True)
    ]


@dataclass
class Seeded:
    lake: Lake
    buckets: dict[StorageLayer, str]

    @property
    def silver(self) -> str:
        return self.buckets[SILVER]

    @property
    def bronze(self) -> str:
        return self.buckets[BRONZE]


@pytest.fixture
def polars_trusts_the_ca(monkeypatch: pytest.MonkeyPatch, s3: S3Endpoint) -> None:
    """Polars reads its CAs from SSL_CERT_FILE only; on an HTTPS test server (RGW with
    AWS_CA_BUNDLE) point it at the same bundle lakeops uses."""
    bundle = os.environ.get(readers.CA_BUNDLE_VAR)
    if s3.url.startswith("https://") and bundle:
        monkeypatch.setenv("SSL_CERT_FILE", bundle)


@pytest.fixture(scope="module")
def seeded(s3: S3Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """Three layer buckets with their prefix markers and the orders dataset, for the module."""
    admin = s3_client(s3)
    names = unique_bucket_names()
    for name in names.values():
        create_versioned_bucket(admin, name)
    lake = Lake(config_for(s3, names))
    put_markers(admin, names)
    upload_orders(lake, tmp_path_factory.mktemp("orders"))
    yield Seeded(lake, names)
    for name in names.values():
        purge_bucket(admin, name)


def test_the_buckets_hold_the_markers(s3: S3Endpoint, seeded: Seeded) -> None:
    """What the reader tests stand on: each prefix marker is a zero-byte '<prefix>/' object."""
    admin = s3_client(s3)
    for layer, spec in LAYOUT.items():
        listed = admin.list_objects_v2(Bucket=seeded.buckets[layer]).get("Contents", [])
        sizes = {entry["Key"]: entry["Size"] for entry in listed}
        for prefix in spec.prefixes:
            assert sizes[prefix] == 0


# -- DuckDB ------------------------------------------------------------------------------------


def test_duckdb_reads_silver_through_globs_and_hive_partitions(seeded: Seeded) -> None:
    connection = readers.duckdb_connection(seeded.lake)
    for pattern in (f"{SILVER_ORDERS}**/*.parquet", f"{SILVER_ORDERS}*/*.parquet", "**"):
        frame = connection.sql(
            f"SELECT * FROM read_parquet('s3://{seeded.silver}/{pattern}', hive_partitioning=true)"
        ).df()
        assert rows_of(frame) == EXPECTED, pattern
    # The whole bucket globbed: the data files and nothing else, markers skipped.
    files = connection.sql(f"SELECT file FROM glob('s3://{seeded.silver}/**')").fetchall()
    assert sorted(f for (f,) in files) == [
        f"s3://{seeded.silver}/{SILVER_ORDERS}date={day}/part-0.parquet" for day in ORDERS
    ]


def test_duckdb_reads_bronze_csv_through_globs(seeded: Seeded) -> None:
    connection = readers.duckdb_connection(seeded.lake)
    for pattern in ("postgres/**/*.csv", "**"):
        frame = connection.sql(
            f"SELECT * FROM read_csv('s3://{seeded.bronze}/{pattern}', hive_partitioning=true)"
        ).df()
        assert rows_of(frame) == EXPECTED, pattern


def test_duckdb_connection_passed_in_gets_the_lake(seeded: Seeded) -> None:
    own = duckdb.connect()
    assert readers.duckdb_connection(seeded.lake, own) is own
    count = own.sql(f"SELECT count(*) FROM 's3://{seeded.silver}/{SILVER_ORDERS}*/*.parquet'")
    assert count.fetchone() == (3,)


# -- Polars ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("polars_trusts_the_ca")
def test_polars_reads_silver_through_globs_and_hive_partitions(seeded: Seeded) -> None:
    options = readers.polars_storage_options(seeded.lake)
    for source in (
        f"s3://{seeded.silver}/{SILVER_ORDERS}**/*.parquet",
        f"s3://{seeded.silver}/cleaned/*/*/*.parquet",
        f"s3://{seeded.silver}/",  # the whole bucket, markers included
    ):
        frame = pl.scan_parquet(source, storage_options=options, hive_partitioning=True)
        assert rows_of(frame.collect().to_pandas()) == EXPECTED, source


@pytest.mark.usefixtures("polars_trusts_the_ca")
def test_polars_reads_bronze_csv_through_globs(seeded: Seeded) -> None:
    options = readers.polars_storage_options(seeded.lake)
    for source in (f"s3://{seeded.bronze}/**/*.csv", f"s3://{seeded.bronze}/postgres/*/*/*.csv"):
        frame = pl.scan_csv(source, storage_options=options).collect()
        assert sorted(frame["id"].to_list()) == [1, 2, 3], source


@pytest.mark.usefixtures("polars_trusts_the_ca")
def test_polars_bare_double_star_matches_nothing(seeded: Seeded) -> None:
    """A Polars glob rule, not the markers': 'prefix/**' alone expands to no file."""
    options = readers.polars_storage_options(seeded.lake)
    with pytest.raises(pl.exceptions.ComputeError, match="expanded paths were empty"):
        pl.scan_parquet(f"s3://{seeded.silver}/cleaned/**", storage_options=options).collect()


# -- pandas (s3fs) -----------------------------------------------------------------------------


def test_pandas_reads_silver_hive_dataset(seeded: Seeded) -> None:
    options = readers.storage_options(seeded.lake)
    for folder in (SILVER_ORDERS, "cleaned/"):  # 'cleaned/' is itself a marker
        frame = pd.read_parquet(f"s3://{seeded.silver}/{folder}", storage_options=options)
        assert rows_of(frame) == EXPECTED, folder


def test_pandas_reads_bronze_csv_through_an_fsspec_glob(seeded: Seeded) -> None:
    options = readers.storage_options(seeded.lake)
    opened = fsspec.open_files(f"s3://{seeded.bronze}/**/*.csv", **options)
    assert sorted(f.path for f in opened) == [
        f"{seeded.bronze}/{BRONZE_ORDERS}date={day}/orders.csv" for day in ORDERS
    ]
    frames = []
    for file in opened:
        with file as handle:
            frames.append(pd.read_csv(handle))
    assert sorted(pd.concat(frames)["id"]) == [1, 2, 3]


def test_s3fs_markers_break_a_whole_bucket_dataset(s3: S3Endpoint, seeded: Seeded) -> None:
    """s3fs lists 'cleaned/' as a zero-byte file, so a dataset read above a marker fails.

    The same read of a copy without markers succeeds: the markers are the cause.
    """
    options = readers.storage_options(seeded.lake)
    listed = s3fs.S3FileSystem(**options).find(seeded.silver, detail=True)
    assert listed[f"{seeded.silver}/cleaned/"]["type"] == "file"
    with pytest.raises(FileNotFoundError, match="/cleaned/"):
        pd.read_parquet(f"s3://{seeded.silver}/", storage_options=options)

    admin = s3_client(s3)
    unmarked = f"lkt-{uuid.uuid4().hex[:10]}-nomarkers"
    admin.create_bucket(Bucket=unmarked)
    try:
        for day in ORDERS:
            key = f"{SILVER_ORDERS}date={day}/part-0.parquet"
            admin.copy_object(
                Bucket=unmarked, Key=key, CopySource={"Bucket": seeded.silver, "Key": key}
            )
        frame = pd.read_parquet(f"s3://{unmarked}/", storage_options=options)
        assert rows_of(frame) == EXPECTED
    finally:
        purge_bucket(admin, unmarked)


# -- PyArrow -----------------------------------------------------------------------------------


def test_pyarrow_reads_silver_hive_dataset(seeded: Seeded) -> None:
    filesystem = readers.pyarrow_filesystem(seeded.lake)
    for folder in (seeded.silver, f"{seeded.silver}/cleaned", f"{seeded.silver}/{SILVER_ORDERS}"):
        dataset = ds.dataset(folder, filesystem=filesystem, format="parquet", partitioning="hive")
        assert rows_of(dataset.to_table().to_pandas()) == EXPECTED, folder


def test_pyarrow_takes_markers_for_folders(seeded: Seeded) -> None:
    filesystem = readers.pyarrow_filesystem(seeded.lake)
    infos = filesystem.get_file_info(pafs.FileSelector(seeded.silver, recursive=True))
    files = sorted(i.path for i in infos if i.type == pafs.FileType.File)
    assert files == [f"{seeded.silver}/{SILVER_ORDERS}date={day}/part-0.parquet" for day in ORDERS]
    kinds = {i.path: i.type for i in infos}
    for prefix in LAYOUT[SILVER].prefixes:
        assert kinds[f"{seeded.silver}/{prefix.rstrip('/')}"] == pafs.FileType.Directory


def test_pyarrow_reads_bronze_csv_dataset(seeded: Seeded) -> None:
    filesystem = readers.pyarrow_filesystem(seeded.lake)
    for folder in (seeded.bronze, f"{seeded.bronze}/{BRONZE_ORDERS}"):
        dataset = ds.dataset(folder, filesystem=filesystem, format="csv", partitioning="hive")
        assert rows_of(dataset.to_table().to_pandas()) == EXPECTED, folder


def test_pyarrow_dataset_over_fsspec_reads_below_the_markers(seeded: Seeded) -> None:
    filesystem = s3fs.S3FileSystem(**readers.storage_options(seeded.lake))
    dataset = ds.dataset(
        f"{seeded.silver}/{SILVER_ORDERS}",
        filesystem=filesystem,
        format="parquet",
        partitioning="hive",
    )
    assert rows_of(dataset.to_table().to_pandas()) == EXPECTED


# -- every reader over a live prefix, in a fresh interpreter -------------------------------------

# It runs below in a fresh interpreter that knows the lake only from the environment, as a
# notebook would. (The README's "Query the lake" block, which feeds the readers a published
# dataset's files instead, runs in tests/test_readme.py.)
QUERY_SNIPPET = """
import pandas as pd
import polars as pl
import pyarrow.dataset as ds

from lakeops import Lake, readers

lake = Lake()
silver = lake.config.bucket("silver")

# pandas (and Dask) through s3fs
pandas_orders = pd.read_parquet(
    f"s3://{silver}/cleaned/orders/", storage_options=readers.storage_options(lake)
)
# Polars
polars_orders = pl.read_parquet(
    f"s3://{silver}/cleaned/orders/**/*.parquet",
    storage_options=readers.polars_storage_options(lake),
    hive_partitioning=True,
)
# DuckDB
duckdb_orders = readers.duckdb_connection(lake).execute(
    f"SELECT * FROM read_parquet('s3://{silver}/cleaned/orders/**/*.parquet',"
    " hive_partitioning = true)"
).df()
# PyArrow
arrow_orders = ds.dataset(
    f"{silver}/cleaned/orders/",
    filesystem=readers.pyarrow_filesystem(lake),
    format="parquet",
    partitioning="hive",
).to_table()
"""
CHECK_SNIPPET = """
for frame in (pandas_orders, polars_orders.to_pandas(), duckdb_orders, arrow_orders.to_pandas()):
    print(sorted(zip(frame["id"], frame["date"].astype(str).str[:10])))
"""


def test_the_readme_query_snippet_runs(s3: S3Endpoint, seeded: Seeded) -> None:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "LAKEOPS_")) or k == readers.CA_BUNDLE_VAR
    }
    environment.update(
        {
            "AWS_ENDPOINT_URL_S3": s3.url,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_REGION": REGION,
            **{f"LAKEOPS_BUCKET_{layer.name}": name for layer, name in seeded.buckets.items()},
        }
    )
    if s3.url.startswith("https://") and readers.CA_BUNDLE_VAR in environment:
        environment["SSL_CERT_FILE"] = environment[readers.CA_BUNDLE_VAR]
    result = subprocess.run(
        [sys.executable, "-c", QUERY_SNIPPET + CHECK_SNIPPET],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    expected = str(sorted((i, day) for i, _, day in EXPECTED))
    assert result.stdout.splitlines() == [expected] * 4


# -- DuckDB's extensions come from PyPI, not from the network ----------------------------------


def offline_connection(extension_dir: Path) -> duckdb.DuckDBPyConnection:
    """A connection that cannot download an extension: empty extension directory, no
    auto-install, and an extension server on a loopback port where nothing listens."""
    return duckdb.connect(
        config={
            "extension_directory": str(extension_dir),
            "autoinstall_known_extensions": False,
            "custom_extension_repository": "http://127.0.0.1:9/",
        }
    )


def test_duckdb_alone_cannot_load_httpfs_offline(tmp_path: Path) -> None:
    """The control: without the duckdb-ext-httpfs wheel DuckDB has no httpfs to load."""
    connection = offline_connection(tmp_path)
    with pytest.raises(duckdb.IOException, match="httpfs"):
        connection.execute("LOAD httpfs")


def test_duckdb_loads_httpfs_from_the_wheel_offline(tmp_path: Path) -> None:
    lake = Lake(LakeConfig.resolve(env={}))
    connection = readers.duckdb_connection(lake, offline_connection(tmp_path))
    loaded = connection.sql(
        "SELECT extension_name FROM duckdb_extensions() WHERE loaded AND extension_name = 'httpfs'"
    ).fetchall()
    assert loaded == [("httpfs",)]
    assert list(tmp_path.iterdir()) == [], "nothing was installed into the connection's folder"


def test_duckdb_new_connection_never_downloads() -> None:
    lake = Lake(LakeConfig.resolve(env={}))
    connection = readers.duckdb_connection(lake)
    settings = connection.sql(
        "SELECT current_setting('autoinstall_known_extensions'), "
        "current_setting('extension_directory')"
    ).fetchone()
    assert settings is not None
    assert settings[0] is False
    httpfs_files = list(Path(settings[1]).glob("v*/*/httpfs.duckdb_extension"))
    assert len(httpfs_files) == 1, "extension_directory is the duckdb-ext wheels' folder"


def test_duckdb_extension_for_another_version_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"duckdb-ext-httpfs has the extension for v1\."):
        readers._extension_file("httpfs", "v0.0.1", "linux_amd64")


# -- optional extras ---------------------------------------------------------------------------


def test_import_lakeops_imports_no_reader_library() -> None:
    probe = (
        "import sys, lakeops, lakeops.readers\n"
        "heavy = ('pandas', 'polars', 'duckdb', 'pyarrow', 's3fs', 'fsspec', 'aiobotocore')\n"
        "print([name for name in heavy if name in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "extra", "call"),
    [
        ("s3fs", "pandas", readers.storage_options),
        ("polars", "polars", readers.polars_storage_options),
        ("duckdb", "duckdb", readers.duckdb_connection),
        ("pyarrow.fs", "arrow", readers.pyarrow_filesystem),
    ],
)
def test_a_missing_reader_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, extra: str, call: Callable[[Lake], object]
) -> None:
    lake = Lake(LakeConfig.resolve(env={}))
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ConfigurationError, match=rf"pip install 'lakeops\[{extra}\]'"):
        call(lake)


# -- settings, without a server ----------------------------------------------------------------

MINIO_HTTPS = "https://minio.example.internal:9443"
AWS_REGION = "eu-west-1"
TEMP_KEY, TEMP_SECRET, TEMP_TOKEN = "ASIAEXAMPLETEMP00001", "temp/secret+key", "temp-session-token"
AWS_BUCKETS = {"bronze": "acme-raw", "silver": "acme-staging", "gold": "acme-curated"}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CA settings from the machine: each test sets the ones it is about."""
    for name in (readers.CA_BUNDLE_VAR, *readers.SSL_CERT_VARS):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def minio_http() -> Lake:
    """The dev defaults: local MinIO over HTTP with its documented keys."""
    return Lake(LakeConfig.resolve(env={}))


def minio_https(**overrides: Any) -> Lake:
    settings: dict[str, Any] = {
        "endpoint_url": MINIO_HTTPS,
        "region": "eu-central-1",
        "access_key_id": "MINIOKEYEXAMPLE00001",
        "secret_access_key": "minio/secret+key",
        "env": {},
    }
    return Lake(LakeConfig.resolve(**{**settings, **overrides}))


def aws_chain() -> Lake:
    """AWS with no keys and no profile: lakeops itself runs boto3's default chain."""
    return Lake(LakeConfig.resolve(backend="aws", region=AWS_REGION, buckets=AWS_BUCKETS, env={}))


def aws_temporary_keys() -> Lake:
    return Lake(
        LakeConfig.resolve(
            backend="aws",
            region=AWS_REGION,
            buckets=AWS_BUCKETS,
            access_key_id=TEMP_KEY,
            secret_access_key=TEMP_SECRET,
            session_token=TEMP_TOKEN,
            env={},
        )
    )


@pytest.fixture
def aws_profile(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Lake:
    """AWS through a named profile (static keys here; SSO and role profiles resolve alike)."""
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text(f"[profile analytics]\nregion = {AWS_REGION}\n")
    credentials.write_text(
        "[analytics]\naws_access_key_id = AKIAPROFILEEXAMPLE01\n"
        "aws_secret_access_key = profile-secret\n"
    )
    clean_env.setenv("AWS_CONFIG_FILE", str(config))
    clean_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    return Lake(LakeConfig.resolve(backend="aws", profile="analytics", buckets=AWS_BUCKETS, env={}))


@pytest.fixture
def ca_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> str:
    path = tmp_path / "company-ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")  # only its path is passed on here
    clean_env.setenv(readers.CA_BUNDLE_VAR, str(path))
    return str(path)


@pytest.mark.usefixtures("clean_env")
def test_signing_follows_what_lakeops_holds(aws_profile: Lake) -> None:
    assert readers.signing(minio_http()) is readers.Signing.LAKE_KEYS
    assert readers.signing(aws_temporary_keys()) is readers.Signing.LAKE_KEYS
    assert readers.signing(aws_profile) is readers.Signing.LAKE_KEYS
    assert readers.signing(aws_chain()) is readers.Signing.READER_CHAIN


@pytest.mark.usefixtures("clean_env")
def test_storage_options_for_minio_over_http() -> None:
    assert readers.storage_options(minio_http()) == {
        "endpoint_url": "http://localhost:9000",
        "key": "minio",
        "secret": "minio123",
        "client_kwargs": {"region_name": "us-east-1"},
        "config_kwargs": {"s3": {"addressing_style": "path"}},
    }


def test_storage_options_for_minio_over_https_with_a_private_ca(ca_file: str) -> None:
    lake = minio_https(request_checksum_calculation="when_required")
    assert readers.storage_options(lake) == {
        "endpoint_url": MINIO_HTTPS,
        "key": "MINIOKEYEXAMPLE00001",
        "secret": "minio/secret+key",
        "client_kwargs": {"region_name": "eu-central-1", "verify": ca_file},
        "config_kwargs": {
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
        },
    }


@pytest.mark.usefixtures("clean_env")
def test_storage_options_on_aws(aws_profile: Lake) -> None:
    # The default chain: no endpoint, no keys; s3fs runs aiobotocore's chain.
    assert readers.storage_options(aws_chain()) == {"client_kwargs": {"region_name": AWS_REGION}}
    assert readers.storage_options(aws_temporary_keys()) == {
        "key": TEMP_KEY,
        "secret": TEMP_SECRET,
        "token": TEMP_TOKEN,
        "client_kwargs": {"region_name": AWS_REGION},
    }
    # A profile is resolved by lakeops and its keys passed on.
    assert readers.storage_options(aws_profile) == {
        "key": "AKIAPROFILEEXAMPLE01",
        "secret": "profile-secret",
        "client_kwargs": {"region_name": AWS_REGION},
    }


@pytest.mark.usefixtures("clean_env")
def test_polars_storage_options() -> None:
    assert readers.polars_storage_options(minio_http()) == {
        "aws_region": "us-east-1",
        "aws_endpoint_url": "http://localhost:9000",
        "aws_allow_http": "true",
        "aws_virtual_hosted_style_request": "false",
        "aws_access_key_id": "minio",
        "aws_secret_access_key": "minio123",
    }
    assert readers.polars_storage_options(minio_https()) == {
        "aws_region": "eu-central-1",
        "aws_endpoint_url": MINIO_HTTPS,
        "aws_allow_http": "false",
        "aws_virtual_hosted_style_request": "false",
        "aws_access_key_id": "MINIOKEYEXAMPLE00001",
        "aws_secret_access_key": "minio/secret+key",
    }
    # Nothing but the region: Polars then builds its boto3 credential provider itself.
    assert readers.polars_storage_options(aws_chain()) == {"aws_region": AWS_REGION}
    assert readers.polars_storage_options(aws_temporary_keys()) == {
        "aws_region": AWS_REGION,
        "aws_access_key_id": TEMP_KEY,
        "aws_secret_access_key": TEMP_SECRET,
        "aws_session_token": TEMP_TOKEN,
    }


def test_polars_warns_that_it_cannot_take_the_ca(
    ca_file: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.warns(UserWarning, match=f"SSL_CERT_FILE={ca_file}"):
        readers.polars_storage_options(minio_https())
    system_bundle = tmp_path / "system.pem"
    system_bundle.write_text("")
    clean_env.setenv("SSL_CERT_FILE", str(system_bundle))  # a bundle without the lake's CA
    with pytest.warns(UserWarning, match="reads SSL_CERT_FILE instead"):
        readers.polars_storage_options(minio_https())
    clean_env.setenv("SSL_CERT_FILE", ca_file)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        readers.polars_storage_options(minio_https())
        readers.polars_storage_options(minio_http())  # no TLS, nothing to trust


def pyarrow_settings(filesystem: Any) -> dict[str, Any]:
    """The options a pyarrow S3FileSystem was built with (what it pickles)."""
    _, (settings,) = filesystem.__reduce__()
    return dict(settings)


@pytest.mark.usefixtures("clean_env")
def test_pyarrow_filesystem_for_minio_and_aws(ca_file: str) -> None:
    settings = pyarrow_settings(readers.pyarrow_filesystem(minio_https()))
    assert {k: settings[k] for k in PYARROW_KEYS} == {
        "endpoint_override": "minio.example.internal:9443",
        "scheme": "https",
        "region": "eu-central-1",
        "access_key": "MINIOKEYEXAMPLE00001",
        "secret_key": "minio/secret+key",
        "session_token": "",
        "force_virtual_addressing": False,
        "tls_ca_file_path": ca_file,
    }
    os.environ.pop(readers.CA_BUNDLE_VAR)
    settings = pyarrow_settings(readers.pyarrow_filesystem(minio_http()))
    assert {k: settings[k] for k in PYARROW_KEYS} == {
        "endpoint_override": "localhost:9000",
        "scheme": "http",
        "region": "us-east-1",
        "access_key": "minio",
        "secret_key": "minio123",
        "session_token": "",
        "force_virtual_addressing": False,
        "tls_ca_file_path": "",
    }
    settings = pyarrow_settings(readers.pyarrow_filesystem(aws_chain()))
    assert {k: settings[k] for k in PYARROW_KEYS} == {
        "endpoint_override": "",  # AWS's own endpoint, virtual-hosted
        "scheme": "https",
        "region": AWS_REGION,
        "access_key": None,  # the AWS C++ SDK's default chain
        "secret_key": None,
        "session_token": None,
        "force_virtual_addressing": False,
        "tls_ca_file_path": "",
    }
    settings = pyarrow_settings(readers.pyarrow_filesystem(aws_temporary_keys()))
    assert (settings["access_key"], settings["session_token"]) == (TEMP_KEY, TEMP_TOKEN)


PYARROW_KEYS = (
    "endpoint_override",
    "scheme",
    "region",
    "access_key",
    "secret_key",
    "session_token",
    "force_virtual_addressing",
    "tls_ca_file_path",
)


def duckdb_secret(connection: duckdb.DuckDBPyConnection) -> tuple[dict[str, str], list[str]]:
    """The lake's secret as DuckDB holds it (secret values redacted) and its scope."""
    rows = connection.sql(
        "SELECT secret_string, scope FROM duckdb_secrets() WHERE name LIKE 'lakeops_%'"
    ).fetchall()
    assert len(rows) == 1
    text, scope = rows[0]
    fields = dict(item.split("=", 1) for item in text.split(";"))
    return fields, sorted(scope)


@pytest.mark.usefixtures("clean_env")
def test_duckdb_secret_for_minio_over_http() -> None:
    lake = minio_http()
    fields, scope = duckdb_secret(readers.duckdb_connection(lake))
    assert {k: fields[k] for k in DUCKDB_KEYS} == {
        "provider": "config",
        "endpoint": "localhost:9000",
        "url_style": "path",
        "use_ssl": "false",
        "region": "us-east-1",
        "key_id": "minio",
    }
    assert scope == sorted(f"s3://{bucket}" for bucket in ("raw", "staging", "curated"))
    assert "SECRET 'minio123'" in readers.duckdb_secret_sql(lake, "x")


def test_duckdb_secret_for_minio_over_https_trusts_the_ca(ca_file: str) -> None:
    connection = readers.duckdb_connection(minio_https())
    fields, _ = duckdb_secret(connection)
    assert {k: fields[k] for k in DUCKDB_KEYS} == {
        "provider": "config",
        "endpoint": "minio.example.internal:9443",
        "url_style": "path",
        "use_ssl": "true",
        "region": "eu-central-1",
        "key_id": "MINIOKEYEXAMPLE00001",
    }
    settings = connection.sql(
        "SELECT current_setting('enable_server_cert_verification'), current_setting('ca_cert_file')"
    ).fetchone()
    assert settings == (True, ca_file)


def test_duckdb_secret_on_aws_uses_the_credential_chain(clean_env: pytest.MonkeyPatch) -> None:
    # Only the AWS SDK's environment provider can answer: no files, no instance metadata.
    clean_env.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHECHAIN0001")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    clean_env.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    clean_env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    clean_env.setenv("AWS_EC2_METADATA_DISABLED", "true")
    lake = aws_chain()
    fields, _ = duckdb_secret(readers.duckdb_connection(lake))
    assert fields["provider"] == "credential_chain"
    assert fields["key_id"] == "AKIAFROMTHECHAIN0001", "found by DuckDB, not passed by lakeops"
    assert fields["region"] == AWS_REGION
    # DuckDB's defaults: its AWS endpoint (made regional per request) and virtual hosts.
    assert fields["endpoint"] == "s3.amazonaws.com"
    assert "url_style" not in fields
    assert "use_ssl" not in fields
    assert "ENDPOINT" not in readers.duckdb_secret_sql(lake, "x")


def test_duckdb_chain_without_credentials_is_a_configuration_error(
    clean_env: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        clean_env.delenv(name, raising=False)
    clean_env.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    clean_env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    clean_env.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ConfigurationError, match="DuckDB refused the lake's S3 secret"):
        readers.duckdb_connection(aws_chain())


@pytest.mark.usefixtures("clean_env")
def test_duckdb_secret_with_temporary_keys() -> None:
    sql = readers.duckdb_secret_sql(aws_temporary_keys(), "lake")
    assert f"KEY_ID '{TEMP_KEY}'" in sql
    assert f"SESSION_TOKEN '{TEMP_TOKEN}'" in sql
    assert "PROVIDER config" in sql
    assert "ENDPOINT" not in sql
    assert "URL_STYLE" not in sql


DUCKDB_KEYS = ("provider", "endpoint", "url_style", "use_ssl", "region", "key_id")


@pytest.mark.usefixtures("clean_env")
def test_duckdb_quotes_what_it_is_given() -> None:
    lake = minio_https(secret_access_key="it's-a-secret")
    assert "SECRET 'it''s-a-secret'" in readers.duckdb_secret_sql(lake, "x")
    readers.duckdb_connection(lake)  # DuckDB parses it


@pytest.mark.usefixtures("clean_env")
def test_an_endpoint_with_a_path_is_refused_where_host_port_is_needed() -> None:
    lake = minio_https(endpoint_url="https://gateway.example.internal/s3")
    with pytest.raises(ConfigurationError, match="has a path"):
        readers.pyarrow_filesystem(lake)


# -- environment for shell tools ---------------------------------------------------------------


def sourced(text: str) -> dict[str, str]:
    """What a shell has after evaluating ``text``, in a clean environment."""
    result = subprocess.run(
        ["bash", "-c", 'set -a; eval "$1"; env -0', "bash", text],
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    pairs = (item.split(b"=", 1) for item in result.stdout.split(b"\0") if item)
    shell_own = {"PWD", "SHLVL", "_", "PATH", "OLDPWD"}
    return {k.decode(): v.decode() for k, v in pairs if k.decode() not in shell_own}


MINIO_HTTP_ENV = {
    "AWS_ENDPOINT_URL_S3": "http://localhost:9000",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "minio",
    "AWS_SECRET_ACCESS_KEY": "minio123",
    "S3_ENDPOINT_URL": "http://localhost:9000",
    "DUCKDB_S3_ENDPOINT": "localhost:9000",
    "DUCKDB_S3_USE_SSL": "false",
    "RCLONE_CONFIG_LAKE_TYPE": "s3",
    "RCLONE_CONFIG_LAKE_PROVIDER": "Minio",
    "RCLONE_CONFIG_LAKE_ENV_AUTH": "true",
    "RCLONE_CONFIG_LAKE_REGION": "us-east-1",
    "RCLONE_CONFIG_LAKE_ENDPOINT": "http://localhost:9000",
    "RCLONE_CONFIG_LAKE_FORCE_PATH_STYLE": "true",
}


@pytest.mark.usefixtures("clean_env")
def test_environment_for_minio_over_http() -> None:
    assert readers.environment(minio_http(), show_secrets=True) == MINIO_HTTP_ENV


def test_environment_for_minio_over_https_with_a_private_ca(ca_file: str) -> None:
    variables = readers.environment(minio_https(), show_secrets=True)
    assert variables == {
        "AWS_ENDPOINT_URL_S3": MINIO_HTTPS,
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "MINIOKEYEXAMPLE00001",
        "AWS_SECRET_ACCESS_KEY": "minio/secret+key",
        "AWS_CA_BUNDLE": ca_file,
        "S3_ENDPOINT_URL": MINIO_HTTPS,
        "DUCKDB_S3_ENDPOINT": "minio.example.internal:9443",
        "DUCKDB_S3_USE_SSL": "true",
        "RCLONE_CONFIG_LAKE_TYPE": "s3",
        "RCLONE_CONFIG_LAKE_PROVIDER": "Minio",
        "RCLONE_CONFIG_LAKE_ENV_AUTH": "true",
        "RCLONE_CONFIG_LAKE_REGION": "eu-central-1",
        "RCLONE_CONFIG_LAKE_ENDPOINT": MINIO_HTTPS,
        "RCLONE_CONFIG_LAKE_FORCE_PATH_STYLE": "true",
        "RCLONE_CA_CERT": ca_file,
    }


@pytest.mark.usefixtures("clean_env")
def test_environment_on_aws(aws_profile: Lake) -> None:
    aws_only = {
        "AWS_REGION": AWS_REGION,
        "AWS_DEFAULT_REGION": AWS_REGION,
        "RCLONE_CONFIG_LAKE_TYPE": "s3",
        "RCLONE_CONFIG_LAKE_PROVIDER": "AWS",
        "RCLONE_CONFIG_LAKE_ENV_AUTH": "true",
        "RCLONE_CONFIG_LAKE_REGION": AWS_REGION,
    }
    # No endpoint anywhere, and no keys: each tool runs its own AWS chain.
    assert readers.environment(aws_chain(), show_secrets=True) == aws_only
    assert readers.environment(aws_profile, show_secrets=True) == {
        **aws_only,
        "AWS_PROFILE": "analytics",
    }
    assert readers.environment(aws_temporary_keys(), show_secrets=True) == {
        **aws_only,
        "AWS_ACCESS_KEY_ID": TEMP_KEY,
        "AWS_SECRET_ACCESS_KEY": TEMP_SECRET,
        "AWS_SESSION_TOKEN": TEMP_TOKEN,
    }


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("fmt", readers.ENV_FORMATS)
@pytest.mark.parametrize("make_lake", [minio_http, minio_https, aws_chain, aws_temporary_keys])
def test_each_format_round_trips(fmt: readers.EnvFormat, make_lake: Callable[[], Lake]) -> None:
    variables = readers.environment(make_lake(), show_secrets=True)
    text = readers.render_environment(variables, fmt)
    if fmt == "json":
        assert json.loads(text) == variables
    else:
        assert sourced(text) == variables
        assignments = [line for line in text.splitlines() if not line.startswith("#")]
        assert all(line.startswith("export ") == (fmt == "sh") for line in assignments)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("fmt", readers.ENV_FORMATS)
def test_secrets_are_masked_unless_asked(fmt: readers.EnvFormat) -> None:
    lake = aws_temporary_keys()
    masked = readers.render_environment(readers.environment(lake), fmt)
    for secret in (TEMP_KEY, TEMP_SECRET, TEMP_TOKEN):
        assert secret not in masked
    assert masked.count(readers.MASK) == 2  # the secret key and the session token
    assert "ASIA****" in masked
    shown = readers.render_environment(readers.environment(lake, show_secrets=True), fmt)
    for secret in (TEMP_KEY, TEMP_SECRET, TEMP_TOKEN):
        assert secret in shown
    assert readers.MASK not in shown


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("fmt", ["sh", "dotenv"])
def test_masked_credentials_are_commented_out_so_eval_sets_none(fmt: readers.EnvFormat) -> None:
    text = readers.render_environment(readers.environment(aws_temporary_keys()), fmt)

    shell = sourced(text)

    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(shell)
    assert shell["AWS_REGION"] == AWS_REGION
    export = "export " if fmt == "sh" else ""
    assert f"# {export}AWS_SECRET_ACCESS_KEY=[secret]  (hidden: add --show-secrets)" in text
    assert f"# {export}AWS_ACCESS_KEY_ID=ASIA****  (hidden: add --show-secrets)" in text


@pytest.mark.usefixtures("clean_env")
def test_sh_and_dotenv_say_what_duckdb_needs_besides() -> None:
    for fmt in ("sh", "dotenv"):
        text = readers.render_environment(readers.environment(minio_http()), fmt)
        assert "SET s3_url_style = 'path'" in text
        assert "Secrets are masked" in text
    on_aws = readers.render_environment(readers.environment(aws_chain()), "sh")
    assert "s3_url_style" not in on_aws


def test_dotenv_refuses_a_value_it_cannot_hold(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    odd = tmp_path / "it's-ca.pem"
    odd.write_text("")
    clean_env.setenv(readers.CA_BUNDLE_VAR, str(odd))
    variables = readers.environment(minio_https())
    with pytest.raises(ConfigurationError, match="single quote"):
        readers.render_environment(variables, "dotenv")
    assert sourced(readers.render_environment(variables, "sh"))["AWS_CA_BUNDLE"] == str(odd)


def test_a_ca_bundle_that_is_not_a_file_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(readers.CA_BUNDLE_VAR, "/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match="not a file"):
        readers.storage_options(minio_https())


@pytest.mark.usefixtures("clean_env")
def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown environment format"):
        readers.render_environment({}, "yaml")  # type: ignore[arg-type]


# -- an HTTPS endpoint signed by a private CA --------------------------------------------------


@dataclass
class TlsLake:
    endpoint: S3Endpoint
    certificates: CertificateFiles
    lake: Lake
    buckets: dict[StorageLayer, str]


@pytest.fixture(scope="module")
def tls_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsLake]:
    """The orders dataset on a moto server whose certificate a throwaway CA signed."""
    certificates = make_certificates(tmp_path_factory.mktemp("tls"))
    endpoint = start_tls_moto(certificates)
    names = unique_bucket_names()
    try:
        with pytest.MonkeyPatch.context() as patch:
            # lakeops' own client trusts the CA the way boto3 does.
            patch.setenv(readers.CA_BUNDLE_VAR, str(certificates.ca))
            admin = s3_client(endpoint)
            for name in names.values():
                create_versioned_bucket(admin, name)
            put_markers(admin, names)
            lake = Lake(config_for(endpoint, names))
            upload_orders(lake, tmp_path_factory.mktemp("tls-orders"))
        yield TlsLake(endpoint, certificates, lake, names)
    finally:
        endpoint.stop()


def read_silver(reader: str, lake: Lake, silver: str) -> list[tuple[int, float, str]]:
    """The silver orders through one reader, with the settings lakeops gives it."""
    if reader == "pandas":
        return rows_of(
            pd.read_parquet(
                f"s3://{silver}/{SILVER_ORDERS}", storage_options=readers.storage_options(lake)
            )
        )
    if reader == "polars":
        frame = pl.scan_parquet(
            f"s3://{silver}/{SILVER_ORDERS}**/*.parquet",
            storage_options=readers.polars_storage_options(lake),
            hive_partitioning=True,
        )
        return rows_of(frame.collect().to_pandas())
    if reader == "duckdb":
        connection = readers.duckdb_connection(lake)
        return rows_of(
            connection.sql(
                f"SELECT * FROM read_parquet('s3://{silver}/{SILVER_ORDERS}**/*.parquet', "
                "hive_partitioning=true)"
            ).df()
        )
    dataset = ds.dataset(
        f"{silver}/{SILVER_ORDERS}",
        filesystem=readers.pyarrow_filesystem(lake),
        format="parquet",
        partitioning="hive",
    )
    return rows_of(dataset.to_table().to_pandas())


@pytest.mark.parametrize("reader", ["pandas", "duckdb", "pyarrow"])
def test_readers_trust_the_private_ca(
    tls_lake: TlsLake, clean_env: pytest.MonkeyPatch, reader: str
) -> None:
    clean_env.setenv(readers.CA_BUNDLE_VAR, str(tls_lake.certificates.ca))
    assert read_silver(reader, tls_lake.lake, tls_lake.buckets[SILVER]) == EXPECTED


@pytest.mark.parametrize(
    ("reader", "error", "message"),
    [
        ("pandas", OSError, "CERTIFICATE_VERIFY_FAILED"),
        ("duckdb", duckdb.IOException, "SSL server verification failed"),
        ("pyarrow", OSError, "curlCode: 60"),
    ],
)
def test_readers_refuse_the_endpoint_without_the_ca(
    tls_lake: TlsLake,
    clean_env: pytest.MonkeyPatch,
    reader: str,
    error: type[BaseException],
    message: str,
) -> None:
    """The control: the CA is what lets them in (the system's CAs do not know it)."""
    with pytest.raises(error, match=message):
        read_silver(reader, tls_lake.lake, tls_lake.buckets[SILVER])


def test_duckdb_on_its_own_would_not_verify_the_certificate(
    tls_lake: TlsLake, clean_env: pytest.MonkeyPatch
) -> None:
    """Why lakeops sets enable_server_cert_verification: httpfs' default trusts any server."""
    lake, silver = tls_lake.lake, tls_lake.buckets[SILVER]
    connection = readers.duckdb_connection(lake, duckdb.connect())
    connection.execute("SET enable_server_cert_verification = false")  # httpfs' default
    count = connection.sql(f"SELECT count(*) FROM 's3://{silver}/{SILVER_ORDERS}*/*.parquet'")
    assert count.fetchone() == (3,), "read without any CA: certificate not checked"


POLARS_READ = """
import json, sys, warnings
from lakeops import Lake, LakeConfig, readers
import polars as pl
settings = json.loads(sys.argv[1])
lake = Lake(LakeConfig.resolve(**settings, env={}))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    options = readers.polars_storage_options(lake)
print("warned" if caught else "no warning", flush=True)
options["max_retries"] = 0  # fail fast on the refused handshake
source = f"s3://{lake.config.bucket('silver')}/cleaned/orders/**/*.parquet"
print(sorted(pl.scan_parquet(source, storage_options=options).collect()["id"].to_list()))
"""


def run_polars(tls_lake: TlsLake, **env: str) -> subprocess.CompletedProcess[str]:
    """Polars in a fresh process: it reads its CAs when it builds its first cloud client."""
    settings = {
        "endpoint_url": tls_lake.endpoint.url,
        "access_key_id": tls_lake.endpoint.access_key,
        "secret_access_key": tls_lake.endpoint.secret_key,
        "region": REGION,
        "buckets": {layer.value: name for layer, name in tls_lake.buckets.items()},
    }
    base = {k: v for k, v in os.environ.items() if k not in readers.SSL_CERT_VARS}
    return subprocess.run(
        [sys.executable, "-c", POLARS_READ, json.dumps(settings)],
        capture_output=True,
        text=True,
        env={**base, readers.CA_BUNDLE_VAR: str(tls_lake.certificates.ca), **env},
        timeout=120,
        check=False,
    )


def test_polars_trusts_the_ca_through_ssl_cert_file(tls_lake: TlsLake) -> None:
    result = run_polars(tls_lake, SSL_CERT_FILE=str(tls_lake.certificates.ca))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["no warning", "[1, 2, 3]"]


def test_polars_cannot_take_the_ca_from_its_options(tls_lake: TlsLake) -> None:
    """Without SSL_CERT_FILE, AWS_CA_BUNDLE alone does not reach Polars; lakeops warns."""
    result = run_polars(tls_lake)
    assert result.returncode != 0
    assert result.stdout.splitlines()[0] == "warned"
    assert "invalid peer certificate: UnknownIssuer" in result.stderr


# -- pipeline roles on the IAM-enforcing moto --------------------------------------------------


@dataclass
class RoleLakes:
    endpoint: S3Endpoint
    buckets: dict[StorageLayer, str]
    lakes: dict[str, Lake]


@pytest.fixture(scope="module")
def role_lakes(
    iam_moto: S3Endpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RoleLakes]:
    """The data, markers included, and one IAM user per role with the role's policy; IAM
    checks on while the tests run. The lakes take the users' keys explicitly."""
    admin = s3_client(iam_moto)
    names = unique_bucket_names()
    for name in names.values():
        create_versioned_bucket(admin, name)
    put_markers(admin, names)
    upload_orders(Lake(config_for(iam_moto, names)), tmp_path_factory.mktemp("role-orders"))
    lakes = {}
    for role in ("analyst", "ingest"):
        user = create_iam_user(
            iam_moto, f"readers-{role}-{uuid.uuid4().hex[:6]}", role_policy(role, names)
        )
        lakes[role] = Lake(
            LakeConfig.resolve(
                endpoint_url=iam_moto.url,
                access_key_id=user.access_key_id,
                secret_access_key=user.secret_access_key,
                region=REGION,
                buckets={layer.value: name for layer, name in names.items()},
                env={},
            )
        )
    set_auth_enforcement(iam_moto, enforced=True)
    yield RoleLakes(iam_moto, names, lakes)
    set_auth_enforcement(iam_moto, enforced=False)
    for name in names.values():
        purge_bucket(admin, name)


def read_folder(reader: str, lake: Lake, bucket: str, folder: str) -> int:
    """Rows of the Parquet files under ``folder``, through one reader."""
    if reader == "pandas":
        options = readers.storage_options(lake)
        return len(pd.read_parquet(f"s3://{bucket}/{folder}", storage_options=options))
    if reader == "polars":
        source = f"s3://{bucket}/{folder}**/*.parquet"
        options = readers.polars_storage_options(lake)
        return pl.scan_parquet(source, storage_options=options).collect().height
    if reader == "duckdb":
        connection = readers.duckdb_connection(lake)
        row = connection.sql(
            f"SELECT count(*) FROM read_parquet('s3://{bucket}/{folder}**/*.parquet')"
        ).fetchone()
        assert row is not None
        return int(row[0])
    dataset = ds.dataset(
        f"{bucket}/{folder}", filesystem=readers.pyarrow_filesystem(lake), format="parquet"
    )
    return int(dataset.count_rows())


def write_file(reader: str, lake: Lake, bucket: str, key: str) -> None:
    """One small Parquet file at ``key``, written by one reader."""
    if reader == "pandas":
        options = readers.storage_options(lake)
        pd.DataFrame({"id": [9]}).to_parquet(f"s3://{bucket}/{key}", storage_options=options)
    elif reader == "polars":
        options = readers.polars_storage_options(lake)
        pl.DataFrame({"id": [9]}).write_parquet(f"s3://{bucket}/{key}", storage_options=options)
    elif reader == "duckdb":
        connection = readers.duckdb_connection(lake)
        connection.execute(f"COPY (SELECT 9 AS id) TO 's3://{bucket}/{key}' (FORMAT parquet)")
    else:
        table = pa.table({"id": [9]})
        pq.write_table(table, f"{bucket}/{key}", filesystem=readers.pyarrow_filesystem(lake))


def stored_keys(roles: RoleLakes, layer: StorageLayer, prefix: str) -> list[str]:
    """What the bucket holds, asked with IAM checks off: the effect, not the reply."""
    set_auth_enforcement(roles.endpoint, enforced=False)
    try:
        listing = s3_client(roles.endpoint).list_objects_v2(
            Bucket=roles.buckets[layer], Prefix=prefix
        )
    finally:
        set_auth_enforcement(roles.endpoint, enforced=True)
    return [entry["Key"] for entry in listing.get("Contents", [])]


@pytest.mark.parametrize("reader", READER_NAMES)
def test_analyst_reads_gold(role_lakes: RoleLakes, reader: str) -> None:
    lake = role_lakes.lakes["analyst"]
    assert read_folder(reader, lake, role_lakes.buckets[GOLD], GOLD_DAILY) == 2


@pytest.mark.parametrize("reader", READER_NAMES)
def test_analyst_is_refused_a_write_to_gold(role_lakes: RoleLakes, reader: str) -> None:
    key = f"{GOLD_DAILY}{reader}-{uuid.uuid4().hex[:6]}.parquet"
    error, message = REFUSALS[reader]
    with pytest.raises(error, match=message):
        write_file(reader, role_lakes.lakes["analyst"], role_lakes.buckets[GOLD], key)
    assert key not in stored_keys(role_lakes, GOLD, GOLD_DAILY)


@pytest.mark.parametrize("reader", READER_NAMES)
def test_ingest_writes_bronze(role_lakes: RoleLakes, reader: str) -> None:
    key = f"files/{reader}-{uuid.uuid4().hex[:6]}.parquet"
    write_file(reader, role_lakes.lakes["ingest"], role_lakes.buckets[BRONZE], key)
    assert key in stored_keys(role_lakes, BRONZE, "files/")


@pytest.mark.parametrize("reader", READER_NAMES)
def test_ingest_is_refused_silver(role_lakes: RoleLakes, reader: str) -> None:
    error, message = REFUSALS[reader]
    with pytest.raises(error, match=message):
        read_folder(reader, role_lakes.lakes["ingest"], role_lakes.buckets[SILVER], SILVER_ORDERS)
