"""pyiceberg's PyArrow FileIO, given the lake's CA file.

pyiceberg 0.12 builds ``pyarrow.fs.S3FileSystem`` from its ``s3.*`` properties and has none for
a CA file (``pyiceberg/io/pyarrow.py``, ``PyArrowFileIO._initialize_s3_fs``), so on an HTTPS
endpoint signed by a private CA (``AWS_CA_BUNDLE``, which lakeops' boto3 client and the other
readers trust) every table read and write would fail its TLS handshake. pyiceberg loads the
FileIO class named by ``py-io-impl``; this one rebuilds pyiceberg's own filesystem with
``tls_ca_file_path`` added, from the options the filesystem reports about itself (its pickle
state), so everything else stays exactly as pyiceberg set it. It also passes the lake's
request-checksum setting on to PyArrow's AWS SDK
(:func:`lakeops.readers.set_sdk_checksum_calculation`).
"""

from __future__ import annotations

from typing import Any

from pyiceberg.io.pyarrow import PyArrowFileIO

from lakeops.readers import ICEBERG_CHECKSUMS, ICEBERG_TLS_CA_FILE, set_sdk_checksum_calculation


class LakeFileIO(PyArrowFileIO):
    def _initialize_s3_fs(self, netloc: str | None) -> Any:
        set_sdk_checksum_calculation(self.properties.get(ICEBERG_CHECKSUMS))
        filesystem = super()._initialize_s3_fs(netloc)
        ca_file = self.properties.get(ICEBERG_TLS_CA_FILE)
        if not ca_file:
            return filesystem
        rebuild, (options,) = filesystem.__reduce__()
        return rebuild({**options, "tls_ca_file_path": ca_file})
