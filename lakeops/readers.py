"""Settings for querying the lake in place: pandas, Dask, Polars, DuckDB, PyArrow, shell tools.

Every function takes a :class:`~lakeops.Lake` and reads only its resolved configuration,
:meth:`Lake.credentials` and the CA file in ``AWS_CA_BUNDLE`` (which lakeops' boto3 client
trusts too), so a reader reaches the same endpoint, buckets and region, and signs as the same
principal, as lakeops itself. The reader libraries are optional extras, each
imported only inside the function that needs it (``import lakeops`` imports none of them):
``lakeops[pandas]`` (pandas, s3fs, pyarrow), ``lakeops[polars]``, ``lakeops[duckdb]``
(DuckDB 1.4 with its httpfs and aws extensions from PyPI) and ``lakeops[arrow]``.

Each setting avoids one of the gotchas of pointing a reader at S3 by hand:

* Endpoint. On MinIO (or any S3-compatible server) each reader is given the lakeops endpoint,
  in the form it wants: a URL for s3fs, Polars and the AWS tools; ``host:port`` plus a scheme
  or an SSL flag for PyArrow and DuckDB. On AWS no endpoint is given at all: a reader then
  builds the regional AWS endpoint itself, as it should.
* Addressing. MinIO and most S3-compatible servers do not serve bucket names as host names, so
  path-style requests are asked for wherever an endpoint is given.
* TLS follows the endpoint's scheme (``http://`` is plain HTTP, ``https://`` is TLS); nobody
  has to set a second flag that could contradict it.
* Region. Always passed: SigV4 signs it, and some readers otherwise guess (Polars asks AWS).
* Credentials. When lakeops holds keys (explicit ones, the environment's, the dev defaults,
  or those of a named profile, SSO and assumed-role profiles included) every reader gets
  those same keys, frozen from :meth:`Lake.credentials`; frozen temporary keys stop working
  when they expire, so ask again for a long job. When lakeops uses the AWS default chain (no
  keys, no profile: an instance or task role, web identity, ``~/.aws``), each reader is left
  to its own AWS chain, which refreshes temporary credentials by itself: s3fs through
  aiobotocore, Polars through boto3, DuckDB through its aws extension (the AWS C++ SDK) and
  PyArrow through the AWS C++ SDK. A profile is resolved by lakeops rather than by the
  readers because PyArrow and object_store take no profile name.
* Private CA. ``AWS_CA_BUNDLE`` is the CA file boto3, and so lakeops, trusts; each reader that
  can be told a CA file is told that one: s3fs (``client_kwargs.verify``), PyArrow
  (``tls_ca_file_path``), DuckDB (``ca_cert_file``). Polars cannot be told through its
  storage options (object_store has no key for a server CA); it reads the process's
  ``SSL_CERT_FILE`` instead, see :func:`polars_storage_options`.

Prefix markers (the zero-byte ``cleaned/`` objects that mark each declared prefix) are
skipped by DuckDB, Polars and PyArrow's own S3 filesystem. s3fs lists them as zero-byte files,
so a PyArrow dataset read through s3fs (pandas, Dask) fails with ``FileNotFoundError`` when a
marker lies *inside* the folder read, such as a whole layer bucket. Reading at or below a
declared prefix (``s3://staging/cleaned/orders/``) works with every reader.

Writing: the readers write with plain PUTs and multipart uploads. On AWS the bronze bucket
policy refuses any object creation without ``If-None-Match``, so data lands in bronze
through lakeops (``Lake.upload``) only; silver and gold take the readers' writes where the
role allows them.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import importlib.metadata
import json
import os
import re
import shlex
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from lakeops.contract import Backend
from lakeops.errors import ConfigurationError

if TYPE_CHECKING:
    import duckdb

    from lakeops.lake import Lake

# The variable botocore (so lakeops' own client, aws-cli and s5cmd) reads its CA file from.
CA_BUNDLE_VAR = "AWS_CA_BUNDLE"
# Where OpenSSL and rustls-native-certs (Polars) look for trusted CAs when told nothing else.
SSL_CERT_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR")

MASK = "[secret]"
RCLONE_REMOTE = "lake"

EnvFormat = Literal["sh", "dotenv", "json"]
ENV_FORMATS: tuple[EnvFormat, ...] = ("sh", "dotenv", "json")

# The pip extra that brings each reader, for the message when it is missing.
_EXTRAS = {
    "s3fs": "pandas",
    "polars": "polars",
    "duckdb": "duckdb",
    "pyarrow.fs": "arrow",
}


class Signing(enum.Enum):
    """Where a reader's credentials come from."""

    # lakeops holds keys (or resolved a profile): readers get the same keys, frozen.
    LAKE_KEYS = "lake keys"
    # lakeops uses the AWS default chain: each reader runs its own chain.
    READER_CHAIN = "reader chain"


def signing(lake: Lake) -> Signing:
    """How readers sign for ``lake``; see the module docstring for why."""
    config = lake.config
    # An assumed role's keys exist only in lakeops' session: readers must be handed them.
    if config.access_key_id is None and config.profile is None and config.role_arn is None:
        return Signing.READER_CHAIN
    return Signing.LAKE_KEYS


@dataclass(frozen=True, repr=False)
class _Keys:
    access_key: str
    secret_key: str
    token: str | None


def _frozen_keys(lake: Lake) -> _Keys | None:
    """The lake's frozen keys when readers are to use them; None for the readers' own chain."""
    if signing(lake) is Signing.READER_CHAIN:
        return None
    credentials = lake.credentials()
    if credentials is None or not credentials.access_key or not credentials.secret_key:
        source = f"profile {lake.config.profile!r}" if lake.config.profile else "the lake"
        raise ConfigurationError(
            f"no credentials were found for {source}.",
            hint="Check the profile in ~/.aws/config (for SSO: aws sso login), or pass "
            "access keys.",
        )
    return _Keys(credentials.access_key, credentials.secret_key, credentials.token or None)


def ca_bundle() -> str | None:
    """The CA file in ``AWS_CA_BUNDLE`` (the one lakeops' boto3 client trusts), if set."""
    value = os.environ.get(CA_BUNDLE_VAR, "").strip()
    if not value:
        return None
    if not Path(value).is_file():
        raise ConfigurationError(
            f"{CA_BUNDLE_VAR} names {value!r}, which is not a file.",
            hint="Point it at the PEM file of the CA that signed the endpoint's certificate.",
        )
    return value


def _uses_tls(lake: Lake) -> bool:
    endpoint = lake.config.endpoint_url
    return endpoint is None or urlsplit(endpoint).scheme == "https"


def _host_port(lake: Lake) -> str | None:
    """The endpoint as ``host:port``, the form DuckDB and PyArrow want; None on AWS."""
    endpoint = lake.config.endpoint_url
    if endpoint is None:
        return None
    parts = urlsplit(endpoint)
    if parts.path not in ("", "/") or parts.query:
        raise ConfigurationError(
            f"endpoint {endpoint!r} has a path; DuckDB and PyArrow take only host and port.",
            hint="Serve the S3 API at the root of a host name, as MinIO and AWS do.",
        )
    return parts.netloc


def _require(module: str) -> Any:
    """Import a reader library, or say which lakeops extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRAS[module]
        raise ConfigurationError(
            f"{module.partition('.')[0]} is not installed.",
            hint=f"Install it with: pip install 'lakeops[{extra}]'",
        ) from exc


# -- pandas, Dask, fsspec ----------------------------------------------------------------------


def storage_options(lake: Lake) -> dict[str, Any]:
    """fsspec/s3fs options: ``pd.read_parquet(uri, storage_options=storage_options(lake))``.

    Also for Dask (``storage_options=``) and ``s3fs.S3FileSystem(**storage_options(lake))``
    (a PyArrow dataset over fsspec). ``endpoint_url`` keeps its scheme (botocore takes TLS from
    it); ``addressing_style: path`` keeps bucket names out of host names on MinIO; on AWS both
    are left out. Keys are passed only when lakeops holds them; otherwise s3fs runs
    aiobotocore's default chain. ``verify`` carries ``AWS_CA_BUNDLE``; the lake's
    request-checksum setting is passed on too, for servers that refuse checksum trailers.
    """
    _require("s3fs")
    config = lake.config
    options: dict[str, Any] = {}
    client_kwargs: dict[str, Any] = {"region_name": config.region}
    config_kwargs: dict[str, Any] = {}
    if config.endpoint_url is not None:
        options["endpoint_url"] = config.endpoint_url
        config_kwargs["s3"] = {"addressing_style": "path"}
    keys = _frozen_keys(lake)
    if keys is not None:
        options["key"] = keys.access_key
        options["secret"] = keys.secret_key
        if keys.token:
            options["token"] = keys.token
    ca = ca_bundle()
    if ca is not None:
        client_kwargs["verify"] = ca
    if config.request_checksum_calculation is not None:
        config_kwargs["request_checksum_calculation"] = config.request_checksum_calculation
    options["client_kwargs"] = client_kwargs
    if config_kwargs:
        options["config_kwargs"] = config_kwargs
    return options


# -- Polars ------------------------------------------------------------------------------------


def polars_storage_options(lake: Lake) -> dict[str, str]:
    """Polars' storage options (object_store keys): ``pl.scan_parquet(uri, storage_options=...)``.

    The names differ from s3fs': ``aws_endpoint_url`` (a URL), ``aws_allow_http`` (object_store
    refuses ``http://`` unless told; it follows the scheme here),
    ``aws_virtual_hosted_style_request=false`` (path style) on MinIO, ``aws_region`` always.
    Keys (``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``) are passed
    only when lakeops holds them; without them Polars builds its own AWS credential provider
    on boto3's default chain, which refreshes.

    A private CA cannot be given here: object_store has an option for a proxy's CA only.
    Polars trusts the CA file in the process's ``SSL_CERT_FILE`` (read when its first cloud
    client is built), so on an HTTPS endpoint with ``AWS_CA_BUNDLE`` set and ``SSL_CERT_FILE``
    naming another file (or none) this warns. ``SSL_CERT_FILE`` replaces the system trust
    store for Polars, and for PyArrow's and DuckDB's defaults, in that process: give it a
    bundle that holds both the system CAs and the private one if the process needs both.

    Globs: ``**/*.parquet`` matches at any depth; a bare trailing ``**`` matches nothing in
    Polars (with or without prefix markers), so write ``prefix/**/*.parquet`` or the folder.
    """
    _require("polars")
    config = lake.config
    options: dict[str, str] = {"aws_region": config.region}
    if config.endpoint_url is not None:
        options["aws_endpoint_url"] = config.endpoint_url
        options["aws_allow_http"] = "false" if _uses_tls(lake) else "true"
        options["aws_virtual_hosted_style_request"] = "false"
    keys = _frozen_keys(lake)
    if keys is not None:
        options["aws_access_key_id"] = keys.access_key
        options["aws_secret_access_key"] = keys.secret_key
        if keys.token:
            options["aws_session_token"] = keys.token
    ca = ca_bundle()
    if config.endpoint_url is not None and _uses_tls(lake) and ca is not None:
        _warn_unless_polars_trusts(ca)
    return options


def _warn_unless_polars_trusts(ca: str) -> None:
    """Warn when Polars will not be reading ``ca``: SSL_CERT_FILE names another file."""
    cert_file = os.environ.get("SSL_CERT_FILE", "").strip()
    try:
        same = bool(cert_file) and Path(cert_file).samefile(ca)
    except OSError:
        same = False
    if not same:
        warnings.warn(
            f"Polars cannot be given {CA_BUNDLE_VAR} through storage options and reads "
            f"SSL_CERT_FILE instead ({cert_file or 'not set'}); unless that bundle holds "
            f"the endpoint's CA, set SSL_CERT_FILE={ca} before the first Polars cloud read.",
            stacklevel=3,
        )


# -- DuckDB ------------------------------------------------------------------------------------


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _extension_file(name: str, version: str, platform: str) -> Path:
    """The ``<name>.duckdb_extension`` file the ``duckdb-ext-<name>`` wheel installed.

    Those wheels put the file where DuckDB's extension directory layout expects it:
    ``site-packages/duckdb_ext/extensions/<version>/<platform>/<name>.duckdb_extension``.
    """
    package = f"duckdb-ext-{name}"
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        raise ConfigurationError(
            f"DuckDB's {name} extension ({package}) is not installed.",
            hint="Install it with: pip install 'lakeops[duckdb]'",
        ) from None
    wanted = (version, platform, f"{name}.duckdb_extension")
    shipped = [file for file in files if file.name.endswith(".duckdb_extension")]
    for file in shipped:
        if tuple(file.parts[-3:]) == wanted:
            return Path(str(file.locate())).resolve()
    found = ", ".join("/".join(file.parts[-3:-1]) for file in shipped) or "nothing"
    raise ConfigurationError(
        f"{package} has the extension for {found}, not for DuckDB {version} on {platform}.",
        hint="Install the duckdb and duckdb-ext-* versions lakeops[duckdb] pins, together.",
    )


def load_extension(connection: duckdb.DuckDBPyConnection, name: str) -> Path | None:
    """Load a DuckDB extension from its PyPI wheel, never from DuckDB's extension server.

    Returns the file loaded; None when the connection had the extension loaded already.
    """
    loaded = connection.execute(
        "SELECT loaded FROM duckdb_extensions() WHERE extension_name = ?", [name]
    ).fetchone()
    if loaded is not None and loaded[0]:
        return None
    version_row = connection.execute("SELECT library_version FROM pragma_version()").fetchone()
    platform_row = connection.execute("PRAGMA platform").fetchone()
    assert version_row is not None and platform_row is not None
    path = _extension_file(name, str(version_row[0]), str(platform_row[0]))
    # LOAD by path: a connection passed in keeps its own extension_directory.
    connection.execute(f"LOAD {sql_string(str(path))}")
    return path


def duckdb_secret_sql(lake: Lake, name: str) -> str:
    """The ``CREATE SECRET`` statement :func:`duckdb_connection` runs (keys included)."""
    config = lake.config
    host_port = _host_port(lake)
    options = ["TYPE s3"]
    keys = _frozen_keys(lake)
    if keys is None:
        # No keys in lakeops: the aws extension runs the AWS C++ SDK's default chain.
        options.append("PROVIDER credential_chain")
    else:
        options += [
            "PROVIDER config",
            f"KEY_ID {sql_string(keys.access_key)}",
            f"SECRET {sql_string(keys.secret_key)}",
        ]
        if keys.token:
            options.append(f"SESSION_TOKEN {sql_string(keys.token)}")
    options.append(f"REGION {sql_string(config.region)}")
    if host_port is not None:
        # DuckDB wants the endpoint without its scheme; TLS comes from USE_SSL instead, and
        # its default URL style (vhost) would send bucket names as host names.
        options += [
            f"ENDPOINT {sql_string(host_port)}",
            "URL_STYLE 'path'",
            f"USE_SSL {'true' if _uses_tls(lake) else 'false'}",
        ]
    scope = ", ".join(sql_string(f"s3://{bucket}") for bucket in config.buckets.values())
    options.append(f"SCOPE [{scope}]")
    return f"CREATE OR REPLACE TEMPORARY SECRET {name} ({', '.join(options)})"


def _secret_name(lake: Lake) -> str:
    """One name per lake, so two lakes (dev and prod) can share a connection."""
    config = lake.config
    identity = json.dumps([config.endpoint_url, sorted(config.buckets.values())])
    return "lakeops_" + hashlib.sha256(identity.encode()).hexdigest()[:12]


def duckdb_connection(
    lake: Lake, connection: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads and writes the lake's buckets as ``s3://`` URLs.

    httpfs (and, for the AWS credential chain, aws) is loaded from the ``duckdb-ext-*`` wheels
    of ``lakeops[duckdb]``, so no internet is needed: DuckDB would otherwise download it from
    its extension server on first use. A new connection also gets those wheels' folder as its
    ``extension_directory`` and ``autoinstall_known_extensions = false``, so it never reaches
    for the network on its own; a connection passed in keeps its settings.

    The lake's settings go into one TEMPORARY secret (never written to disk) scoped to the
    lake's three buckets: see :func:`duckdb_secret_sql`. TLS certificates are verified
    (httpfs does not verify them unless ``enable_server_cert_verification`` is set; this is a
    database-wide setting), against ``AWS_CA_BUNDLE`` when it is set (``ca_cert_file``), else
    against the CA files OpenSSL finds (``SSL_CERT_FILE``, or the system's).

    Keep the connection in a variable (or chain ``.execute``, which returns it): DuckDB closes
    a connection nothing refers to, so ``duckdb_connection(lake).sql(...).df()`` fails.
    """
    duckdb_module = _require("duckdb")
    new = connection is None
    if connection is None:
        connection = duckdb_module.connect(config={"autoinstall_known_extensions": False})
    httpfs = load_extension(connection, "httpfs")
    if new and httpfs is not None:
        # <dir>/<version>/<platform>/httpfs.duckdb_extension: autoloads find the wheels' files.
        connection.execute(f"SET extension_directory = {sql_string(str(httpfs.parents[2]))}")
    if signing(lake) is Signing.READER_CHAIN:
        load_extension(connection, "aws")
    connection.execute("SET enable_server_cert_verification = true")
    ca = ca_bundle()
    if ca is not None:
        connection.execute(f"SET ca_cert_file = {sql_string(ca)}")
    try:
        connection.execute(duckdb_secret_sql(lake, _secret_name(lake)))
    except duckdb_module.Error as exc:
        raise ConfigurationError(
            f"DuckDB refused the lake's S3 secret: {exc}",
            hint="On AWS, check that credentials are found (aws sts get-caller-identity).",
        ) from None
    return connection


# -- PyArrow -----------------------------------------------------------------------------------


def pyarrow_filesystem(lake: Lake) -> Any:
    """A ``pyarrow.fs.S3FileSystem`` for the lake; paths are ``bucket/key`` (no ``s3://``).

    ``endpoint_override`` is ``host:port`` with TLS from ``scheme``; with an endpoint PyArrow
    uses path-style requests (``force_virtual_addressing`` stays false), on AWS no endpoint
    and virtual hosts. Keys only when lakeops holds them, else the AWS C++ SDK's default
    chain. ``tls_ca_file_path`` carries ``AWS_CA_BUNDLE`` (PyArrow does not read that
    variable itself). Returns ``pyarrow.fs.S3FileSystem``; typed ``Any`` since PyArrow ships
    no type hints.
    """
    fs = _require("pyarrow.fs")
    config = lake.config
    kwargs: dict[str, Any] = {
        "region": config.region,
        "scheme": "https" if _uses_tls(lake) else "http",
    }
    host_port = _host_port(lake)
    if host_port is not None:
        kwargs["endpoint_override"] = host_port
        kwargs["force_virtual_addressing"] = False
    keys = _frozen_keys(lake)
    if keys is not None:
        kwargs["access_key"] = keys.access_key
        kwargs["secret_key"] = keys.secret_key
        if keys.token:
            kwargs["session_token"] = keys.token
    ca = ca_bundle()
    if ca is not None:
        kwargs["tls_ca_file_path"] = ca
    set_sdk_checksum_calculation(config.request_checksum_calculation)
    return fs.S3FileSystem(**kwargs)


# -- pyiceberg ---------------------------------------------------------------------------------

# pyiceberg's FileIO property names (pyiceberg/io/__init__.py, 0.12).
_ICEBERG_S3 = "s3."
# lakeops' own: the CA file for its FileIO (lakeops.tables.fileio), which pyiceberg 0.12 has
# no property for, and the request-checksum setting (see set_sdk_checksum_calculation).
ICEBERG_TLS_CA_FILE = "lakeops.s3.tls-ca-file"
ICEBERG_CHECKSUMS = "lakeops.s3.request-checksum-calculation"
# The AWS SDKs' variable; the AWS C++ SDK that PyArrow bundles reads it when it builds a client.
AWS_CHECKSUM_VAR = "AWS_REQUEST_CHECKSUM_CALCULATION"


def set_sdk_checksum_calculation(value: str | None) -> None:
    """Make the AWS C++ SDK inside PyArrow compute request checksums as lakeops does.

    PyArrow's S3 filesystem has no option for it, and its SDK sends every upload as
    ``aws-chunked`` with a checksum trailer, over HTTP too (boto3 does so over HTTPS only),
    which servers such as Ceph RGW 16.2 refuse with 411 MissingContentLength. The SDK reads
    ``AWS_REQUEST_CHECKSUM_CALCULATION`` when a filesystem builds its client, so a lake set to
    ``when_required`` sets that variable for the process (where it is not set already) before
    one is built. Checked against RGW 16.2: writes fail without it and succeed with it.
    """
    if value is not None and not os.environ.get(AWS_CHECKSUM_VAR):
        os.environ[AWS_CHECKSUM_VAR] = value


ICEBERG_FILE_IO = "lakeops.tables.fileio.LakeFileIO"


def pyiceberg_properties(lake: Lake) -> dict[str, str]:
    """pyiceberg FileIO properties (``s3.*``) for the lake's tables, the same settings
    :func:`pyarrow_filesystem` gives PyArrow, since pyiceberg writes through PyArrow's S3
    filesystem: the endpoint with its scheme (``s3.endpoint``; PyArrow takes TLS from it, and
    path-style addressing follows, ``s3.force-virtual-addressing`` false), the region (so that
    pyiceberg does not ask S3 for the bucket's), the keys when lakeops holds them (an assumed
    role's, frozen: they last the STS default hour), else the AWS C++ SDK's own chain, and,
    through lakeops' FileIO (``py-io-impl``, the only way to give pyiceberg 0.12 either), the
    CA file in ``AWS_CA_BUNDLE`` and the request-checksum setting
    (:func:`set_sdk_checksum_calculation`). The connect and read timeouts are lakeops' own.
    """
    config = lake.config
    properties = {
        "py-io-impl": ICEBERG_FILE_IO,
        _ICEBERG_S3 + "region": config.region,
        _ICEBERG_S3 + "connect-timeout": str(config.timeouts.connect_seconds),
        _ICEBERG_S3 + "request-timeout": str(config.timeouts.read_seconds),
    }
    if config.endpoint_url is not None:
        _host_port(lake)  # the same check as the other readers: no path in the endpoint
        properties[_ICEBERG_S3 + "endpoint"] = config.endpoint_url
        properties[_ICEBERG_S3 + "force-virtual-addressing"] = "false"
    keys = _frozen_keys(lake)
    if keys is not None:
        properties[_ICEBERG_S3 + "access-key-id"] = keys.access_key
        properties[_ICEBERG_S3 + "secret-access-key"] = keys.secret_key
        if keys.token:
            properties[_ICEBERG_S3 + "session-token"] = keys.token
    ca = ca_bundle()
    if ca is not None and _uses_tls(lake):
        properties[ICEBERG_TLS_CA_FILE] = ca
    if config.request_checksum_calculation is not None:
        properties[ICEBERG_CHECKSUMS] = config.request_checksum_calculation
    return properties


# -- shell tools -------------------------------------------------------------------------------

_SECRET_VARS = frozenset({"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


def _show_key_id(value: str) -> str:
    # As `lakeops config` shows it: enough to recognise, not the whole identifier.
    return value[:4] + "****" if len(value) > 8 else "****"


def environment(lake: Lake, show_secrets: bool = False) -> dict[str, str]:
    """Environment variables that point aws-cli, s5cmd, rclone and DuckDB at the lake.

    * aws-cli, boto3 and lakeops: ``AWS_ENDPOINT_URL_S3`` (S3 only, so STS and IAM calls still
      go to AWS; botocore then uses path style by itself), ``AWS_REGION`` (aws-cli v2, SDKs)
      and ``AWS_DEFAULT_REGION`` (botocore), ``AWS_ACCESS_KEY_ID``,
      ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN`` when lakeops holds keys or acts as an
      assumed role (its temporary keys, frozen: :func:`credentials_expiry` says until when),
      else ``AWS_PROFILE`` when it uses a profile; ``AWS_CA_BUNDLE`` when set.
    * s5cmd: ``S3_ENDPOINT_URL`` (it ignores ``AWS_ENDPOINT_URL*``; it uses path style for
      any non-AWS endpoint), and the ``AWS_*`` credentials, ``AWS_REGION`` and
      ``AWS_CA_BUNDLE`` through the AWS SDK for Go.
    * rclone: a remote named ``lake`` (``rclone ls lake:<bucket>/``), from
      ``RCLONE_CONFIG_LAKE_*``: ``TYPE=s3``, ``PROVIDER`` (``Minio`` or ``AWS``),
      ``ENDPOINT`` and ``FORCE_PATH_STYLE=true`` off AWS, ``REGION``, and ``ENV_AUTH=true`` so
      rclone takes the ``AWS_*`` credentials above rather than a second copy of the secret;
      ``RCLONE_CA_CERT`` (its ``--ca-cert``) for a private CA.
    * DuckDB (CLI or any client): httpfs reads ``DUCKDB_S3_ENDPOINT`` (``host:port``, no
      scheme), ``DUCKDB_S3_USE_SSL`` and the ``AWS_*`` keys and region when it loads. It has
      no variable for the URL style or the CA file: run ``SET s3_url_style = 'path';`` (and
      ``SET ca_cert_file = '...'``) too, or use :func:`duckdb_connection` from Python.

    Secret values are shown as ``[secret]`` and the key id shortened unless ``show_secrets``
    (as ``pulumi stack output --show-secrets``).
    """
    config = lake.config
    variables: dict[str, str] = {}
    endpoint = config.endpoint_url
    if endpoint is not None:
        variables["AWS_ENDPOINT_URL_S3"] = endpoint
    variables["AWS_REGION"] = config.region
    variables["AWS_DEFAULT_REGION"] = config.region
    if config.access_key_id is not None or config.role_arn is not None:
        # The keys lakeops signs with: an assumed role's too (frozen: see credentials_expiry).
        keys = _frozen_keys(lake)
        assert keys is not None
        variables["AWS_ACCESS_KEY_ID"] = (
            keys.access_key if show_secrets else _show_key_id(keys.access_key)
        )
        variables["AWS_SECRET_ACCESS_KEY"] = keys.secret_key if show_secrets else MASK
        if keys.token:
            variables["AWS_SESSION_TOKEN"] = keys.token if show_secrets else MASK
    elif config.profile is not None:
        # Names the profile, so that SSO and role profiles keep refreshing in each tool.
        variables["AWS_PROFILE"] = config.profile
    ca = ca_bundle()
    if ca is not None:
        variables[CA_BUNDLE_VAR] = ca
    if endpoint is not None:
        variables["S3_ENDPOINT_URL"] = endpoint
        host_port = _host_port(lake)
        assert host_port is not None
        variables["DUCKDB_S3_ENDPOINT"] = host_port
        variables["DUCKDB_S3_USE_SSL"] = "true" if _uses_tls(lake) else "false"
    remote = f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_"
    variables[remote + "TYPE"] = "s3"
    variables[remote + "PROVIDER"] = "AWS" if config.backend is Backend.AWS else "Minio"
    variables[remote + "ENV_AUTH"] = "true"
    variables[remote + "REGION"] = config.region
    if endpoint is not None:
        variables[remote + "ENDPOINT"] = endpoint
        variables[remote + "FORCE_PATH_STYLE"] = "true"
    if ca is not None:
        variables["RCLONE_CA_CERT"] = ca
    return variables


def credentials_expiry(lake: Lake) -> datetime | None:
    """When the temporary keys lakeops signs with expire (an assumed role's); None for keys
    that do not, or whose expiry lakeops does not know (a session token given to it)."""
    found = lake.session.get_credentials()
    # botocore's refreshable credentials know their expiry, without a public accessor.
    expiry = getattr(found, "_expiry_time", None)
    return expiry if isinstance(expiry, datetime) else None


_DOTENV_PLAIN = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")
_CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _hidden(name: str, value: str) -> bool:
    """A credential :func:`environment` masked: its line must not set the variable."""
    return name in _CREDENTIAL_VARS and (value == MASK or value.endswith("****"))


def render_environment(variables: Mapping[str, str], fmt: EnvFormat = "sh") -> str:
    """Render :func:`environment`'s variables: ``sh`` (``export``; for ``eval``), ``dotenv``
    (docker compose, python-dotenv; also valid shell) or ``json``."""
    if fmt == "json":
        return json.dumps(dict(variables), indent=2) + "\n"
    if fmt not in ("sh", "dotenv"):
        raise ConfigurationError(
            f"unknown environment format {fmt!r}.", hint=f"Use one of: {', '.join(ENV_FORMATS)}."
        )
    lines = []
    if MASK in variables.values():
        lines.append(
            "# Secrets are masked, and their lines commented out: add --show-secrets to set them."
        )
    if "DUCKDB_S3_ENDPOINT" in variables:
        lines.append("# DuckDB has no variable for the URL style: run SET s3_url_style = 'path';")
    for name, value in variables.items():
        if _hidden(name, value):
            # So that `eval` never sets a masked value, which would break every tool.
            shown = f"export {name}={value}" if fmt == "sh" else f"{name}={value}"
            lines.append(f"# {shown}  (hidden: add --show-secrets)")
        elif fmt == "sh":
            lines.append(f"export {name}={shlex.quote(value)}")
        elif _DOTENV_PLAIN.match(value):
            lines.append(f"{name}={value}")
        elif "'" not in value:
            # Single quotes: literal in docker compose, python-dotenv and sh alike.
            lines.append(f"{name}='{value}'")
        else:
            raise ConfigurationError(
                f"the value of {name} has a single quote, which dotenv files cannot hold "
                "the same way in every reader.",
                hint="Use the sh or json format.",
            )
    return "\n".join(lines) + "\n"
