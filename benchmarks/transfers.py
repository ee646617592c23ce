"""Transfer benchmarks: a table of measured ratios against one loopback S3 server (moto).

moto's server is slow (tens of MiB/s), so absolute speeds say little; every row compares two
runs on the same server, and the ratio is what to read. Each memory figure is the peak RSS
growth of a fresh child process, so runs do not disturb each other.

    make bench                      # or: .venv/bin/python benchmarks/transfers.py --small
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lakeops import Lake, LakeConfig, StorageLayer  # noqa: E402
from lakeops.transfers import MiB  # noqa: E402
from tests.conftest import s3_client  # noqa: E402
from tests.support.buckets import create_versioned_bucket, purge_bucket  # noqa: E402
from tests.support.s3server import REGION, S3Endpoint, start_moto  # noqa: E402

CHILD_FLAG = "--child"


def lake_for(endpoint: str, key: str, secret: str, buckets: dict[str, str]) -> Lake:
    return Lake(
        LakeConfig.resolve(
            endpoint_url=endpoint,
            access_key_id=key,
            secret_access_key=secret,
            region=REGION,
            buckets=buckets,
            env={},
        )
    )


def child(spec: dict[str, str]) -> None:
    """Run one operation and print its seconds and peak RSS growth (MiB) as JSON."""
    lake = lake_for(spec["endpoint"], spec["key"], spec["secret"], json.loads(spec["buckets"]))
    lake.client.list_buckets()  # warm the client before the baseline
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    operation = spec["operation"]
    if operation == "upload":
        lake.upload(spec["path"], StorageLayer.SILVER, spec["object"])
    elif operation == "upload-without-hash":
        # The same managed transfer and settings, without lakeops' SHA-256 pass.
        lake.client.upload_file(
            spec["path"],
            lake.config.bucket("silver"),
            spec["object"],
            Config=lake.transfer.for_files(),
        )
    elif operation == "download":
        lake.download(StorageLayer.SILVER, spec["object"], spec["path"])
    elif operation == "promote":
        lake.promote(spec["object"], StorageLayer.SILVER, StorageLayer.GOLD, spec["object"])
    elif operation == "round-trip":
        # What promotion would cost if the bytes went through the client.
        lake.download(StorageLayer.SILVER, spec["object"], spec["path"])
        lake.upload(spec["path"], StorageLayer.GOLD, spec["object"] + ".copy")
    elif operation in ("list", "iterate"):
        # Python-level peak memory (tracemalloc) and the time until the first key is in hand.
        tracemalloc.start()
        started = time.perf_counter()
        if operation == "list":
            entries = lake.list_objects(StorageLayer.BRONZE, "api/")
            first = time.perf_counter() - started
            count = len(entries)
        else:
            iterator = lake.iter_objects(StorageLayer.BRONZE, "api/")
            next(iterator)
            first = time.perf_counter() - started
            count = 1 + sum(1 for _ in iterator)
        peak_bytes = tracemalloc.get_traced_memory()[1]
        assert count == int(spec["keys"])
        print(json.dumps({"seconds": first, "rss_mib": peak_bytes / MiB}))
        return
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": seconds, "rss_mib": (peak - baseline) / 1024}))


def ratio_row(label: str, a: float, b: float, unit: str, expected: str) -> tuple[str, ...]:
    return (label, f"{a:.2f} {unit}", f"{b:.2f} {unit}", f"{a / b:.2f}" if b else "n/a", expected)


@dataclass
class Measured:
    seconds: float
    rss_mib: float


def measure(server: S3Endpoint, buckets: dict[str, str], **spec: str) -> Measured:
    settings = {
        "endpoint": server.url,
        "key": server.access_key,
        "secret": server.secret_key,
        "buckets": json.dumps(buckets),
        **spec,
    }
    done = subprocess.run(
        [sys.executable, __file__, CHILD_FLAG, json.dumps(settings)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return Measured(**json.loads(done.stdout.strip().splitlines()[-1]))


def write_file(folder: Path, size: int) -> Path:
    path = folder / f"data-{size}.bin"
    chunk = os.urandom(MiB)
    with path.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(chunk)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="smaller files, for a quick run")
    args = parser.parse_args()
    # Both sizes are well above the multipart threshold and s3transfer's buffering plateau
    # (about 100 MiB on downloads), so bounded memory shows as a ratio near 1.
    small_size, large_size = (256 * MiB, 1024 * MiB) if not args.small else (128 * MiB, 512 * MiB)
    keys = 5000 if not args.small else 2000

    server = start_moto()
    admin = s3_client(server)
    run = uuid.uuid4().hex[:8]
    buckets = {layer: f"bench-{run}-{layer}" for layer in ("bronze", "silver", "gold")}
    for name in buckets.values():
        create_versioned_bucket(admin, name)
    rows: list[tuple[str, ...]] = []
    big, little = f"{large_size // MiB} MiB", f"{small_size // MiB} MiB"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            small = write_file(folder, small_size)
            large = write_file(folder, large_size)

            def run_op(operation: str, **spec: str) -> Measured:
                return measure(server, buckets, operation=operation, **spec)

            up_small = run_op("upload", path=str(small), object="cleaned/small")
            up_large = run_op("upload", path=str(large), object="cleaned/large")
            rows.append(
                ratio_row(
                    f"upload peak RSS growth, {big} vs {little}",
                    up_large.rss_mib,
                    up_small.rss_mib,
                    "MiB",
                    f"~1 (the file is {large_size // small_size}x)",
                )
            )
            raw = run_op("upload-without-hash", path=str(large), object="cleaned/raw")
            rows.append(
                ratio_row(
                    f"upload {big}: with SHA-256 vs the same transfer without",
                    up_large.seconds,
                    raw.seconds,
                    "s",
                    ">1: hashing is a pass before upload",
                )
            )
            down_small = run_op("download", path=str(folder / "ds"), object="cleaned/small")
            down_large = run_op("download", path=str(folder / "dl"), object="cleaned/large")
            rows.append(
                ratio_row(
                    f"download peak RSS growth, {big} vs {little}",
                    down_large.rss_mib,
                    down_small.rss_mib,
                    "MiB",
                    "~1",
                )
            )
            promote = run_op("promote", object="cleaned/large")
            trip = run_op("round-trip", path=str(folder / "rt"), object="cleaned/large")
            rows.append(
                ratio_row(
                    f"promote {big}: server-side copy vs download+upload",
                    promote.seconds,
                    trip.seconds,
                    "s",
                    "<1; no bytes through the client",
                )
            )
            for n in range(keys):
                admin.put_object(Bucket=buckets["bronze"], Key=f"api/events/{n:06d}.json", Body=b"")
            listed = run_op("list", keys=str(keys))
            iterated = run_op("iterate", keys=str(keys))
            rows.append(
                ratio_row(
                    f"{keys} keys: lazy iterator vs list, peak Python memory",
                    iterated.rss_mib,
                    listed.rss_mib,
                    "MiB",
                    "<1, falls as keys grow",
                )
            )
            rows.append(
                ratio_row(
                    f"{keys} keys: lazy iterator vs list, time to first key",
                    iterated.seconds,
                    listed.seconds,
                    "s",
                    "about 1000 / keys",
                )
            )
    finally:
        try:
            for name in buckets.values():
                purge_bucket(admin, name)
        finally:
            server.stop()

    headers = ("measurement", "A", "B", "A/B", "expected")
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    for row in (headers, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == CHILD_FLAG:
        child(json.loads(sys.argv[2]))
    else:
        main()
