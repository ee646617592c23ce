"""The dev stack's MinIO login, and an S3 client built from it and from nothing else.

The preflight (infra/dev_preflight.py) checks MinIO with exactly what the MinIO provider will
use: the stack's minio:minioServer, minio:minioUser and minio:minioPassword. Nothing the shell
or the checkout holds may change that: not the exported stack outputs (an empty `{}` or an
older export in .lakeops/outputs-dev.json), nor AWS_PROFILE naming a profile that does not
exist (botocore raises ProfileNotFound on the first config lookup), nor AWS_ENDPOINT_URL,
AWS_CA_BUNDLE or ~/.aws/config. So the client is botocore's own, on a session whose every
setting comes from its defaults: no environment variable and no config file is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import botocore.config
import botocore.configprovider
import botocore.session

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Short, as lakeops' own client: the preflight answers in seconds, or says MinIO is away.
_CONNECT_TIMEOUT = 5
_READ_TIMEOUT = 15


@dataclass(frozen=True)
class S3Login:
    """Where and as whom: the MinIO provider's own server and login."""

    endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str


def _isolated_session() -> botocore.session.Session:
    """A botocore session that reads no environment variable and no AWS config file."""
    session = botocore.session.Session()
    chains = botocore.configprovider.ConfigChainFactory(session=session, environ={})
    store = session.get_component("config_store")
    no_files = {"config_file": os.devnull, "credentials_file": os.devnull}
    for name, (
        _,
        _,
        default,
        convert,
    ) in botocore.configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES.items():
        store.set_config_provider(
            name,
            chains.create_config_chain(
                instance_name=name, default=no_files.get(name, default), conversion_func=convert
            ),
        )
    return session


def s3_client(login: S3Login) -> S3Client:
    """Path-style, one attempt, short timeouts: with exactly this login, at exactly this URL."""
    client = _isolated_session().create_client(
        "s3",
        endpoint_url=login.endpoint,
        region_name=login.region,
        aws_access_key_id=login.access_key_id,
        aws_secret_access_key=login.secret_access_key,
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=_CONNECT_TIMEOUT,
            read_timeout=_READ_TIMEOUT,
        ),
    )
    return cast("S3Client", client)
