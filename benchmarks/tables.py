"""Tables through lakeops against pyiceberg called directly, and against the dataset API, on
one server, in one run.

    .venv/bin/python benchmarks/tables.py                 # moto; --servers moto,rgw for Ceph too
    .venv/bin/python benchmarks/tables.py --reps 5 --rows 1000000

Jobs, on the same generated data (``--rows`` rows x 10 columns: 4 int64, 4 float64, 2
strings; about 50 MB of Parquet at a million rows):

- ``write``: create a table and write every row in one snapshot;
- ``read``: read the whole table back into one PyArrow table;
- ``append``: 100 appends of ``--append-rows`` rows each, one snapshot each.

Clients:

- ``pyiceberg``: pyiceberg's own API with the very settings lakeops gives it (the same SQLite
  catalog and FileIO properties, ``lakeops.readers.pyiceberg_properties``): the ceiling;
- ``lakeops``: ``Lake.write_table`` / ``read_table``, every guarantee on (schema check,
  lineage in every snapshot, a fresh load of the table per write);
- ``datasets``: the same rows as Parquet files moved by the dataset API (``upload_folder`` of
  one file; ``download_prefix`` and a local read; 100 small datasets), with its guarantees
  (SHA-256 per object, the manifest).

Each run is a process of its own; the runs of one job are interleaved across clients, and the
table shows medians of ``--reps`` repetitions of wall and CPU seconds (the client's own, user
and system, every thread: the server's work is not in it, and it moves far less than wall time
when the machine is shared), the ratios to pyiceberg and to the datasets, and each job's peak
memory above what the process held before it (``VmHWM`` after resetting it through
``/proc/self/clear_refs``: the job's own peak, not the generated data's). ``--clients`` runs
fewer clients (lakeops always).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import s3_client  # noqa: E402
from tests.support.buckets import create_versioned_bucket, purge_bucket  # noqa: E402
from tests.support.s3server import REGION, S3Endpoint, start_moto  # noqa: E402

CLIENTS = ("pyiceberg", "lakeops", "datasets")
JOBS = ("write", "read", "append")
APPENDS = 100
CHILD = "--child"


def generate(rows: int, seed: int = 7) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for n in range(4):
        columns[f"i{n}"] = rng.integers(0, 2**62, rows)
    for n in range(4):
        columns[f"f{n}"] = rng.random(rows)
    columns["country"] = pa.array(rng.choice(["GB", "US", "FR", "DE", "NL"], rows))
    columns["email"] = pa.array([f"user{i}@example.com" for i in range(rows)])
    return pa.table(columns)


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    # Linux: writing 5 to clear_refs resets VmHWM to the current RSS (proc(5)).
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _lake(settings: dict[str, Any]) -> Any:
    from lakeops import Lake, LakeConfig

    return Lake(
        LakeConfig.resolve(
            endpoint_url=settings["url"],
            access_key_id=settings["key"],
            secret_access_key=settings["secret"],
            region=REGION,
            buckets=settings["buckets"],
            env={"LAKEOPS_CATALOG_URI": f"sqlite:///{settings['catalog']}"},
        )
    )


def _pyiceberg(
    lake: Any, settings: dict[str, Any], name: str, job: str, data: Any
) -> Callable[[], int]:
    """pyiceberg's own API, with the catalog and FileIO properties lakeops would use."""
    from pyiceberg.catalog.sql import SqlCatalog

    from lakeops.readers import pyiceberg_properties

    catalog = SqlCatalog(
        "lake", uri=f"sqlite:///{settings['catalog']}", **pyiceberg_properties(lake)
    )
    catalog.create_namespace_if_not_exists("silver")
    identifier = ("silver", f"cleaned_{name}")
    location = f"s3://{settings['buckets']['silver']}/cleaned/{name}"

    def run() -> int:
        if job == "read":
            return int(catalog.load_table(identifier).scan().to_arrow().num_rows)
        table = catalog.create_table(identifier, schema=data.schema, location=location)
        for _ in range(APPENDS if job == "append" else 1):
            table.append(data)
        return 0

    return run


def _lakeops(lake: Any, name: str, job: str, data: Any) -> Callable[[], int]:
    lake.catalog()  # built once per pipeline, as the pyiceberg client's catalog is

    def run() -> int:
        if job == "read":
            return int(lake.read_table("silver", f"cleaned.{name}").num_rows)
        for _ in range(APPENDS if job == "append" else 1):
            lake.write_table("silver", f"cleaned.{name}", data)
        return 0

    return run


def _datasets(lake: Any, name: str, job: str, data: Any, work: Path) -> Callable[[], int]:
    import pyarrow.parquet as pq

    folders = [work / f"{n:03d}" for n in range(APPENDS if job == "append" else 1)]
    if job != "read":
        for folder in folders:
            folder.mkdir()
            pq.write_table(data, folder / "part-0.parquet")

    def run() -> int:
        if job == "read":
            lake.download_prefix("silver", f"cleaned/{name}/000/", work / "down")
            return int(pq.read_table(work / "down").num_rows)
        for folder in folders:
            lake.upload_folder(folder, "silver", f"cleaned/{name}/{folder.name}/")
        return 0

    return run


def child(args: argparse.Namespace) -> None:
    """One client's run of one job; prints seconds and peak memory growth as JSON."""
    settings = json.loads(args.settings)
    lake = _lake(settings)
    name = f"bench_{args.client}_{args.tag}"
    data = generate(args.rows if args.job != "append" else args.append_rows)
    work = Path(tempfile.mkdtemp(prefix="bench-tables-"))
    if args.client == "pyiceberg":
        run = _pyiceberg(lake, settings, name, args.job, data)
    elif args.client == "lakeops":
        run = _lakeops(lake, name, args.job, data)
    else:
        run = _datasets(lake, name, args.job, data, work)
    reset_peak()
    baseline = memory_kib("VmRSS")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    peak = memory_kib("VmHWM")
    if args.job == "read" and rows != args.rows:
        raise SystemExit(f"{args.client} read {rows} rows, not {args.rows}")
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    print(json.dumps({"seconds": seconds, "cpu": used, "peak_mib": max(peak - baseline, 0) / 1024}))


def run_child(
    settings: dict[str, Any], client: str, job: str, tag: str, args: Any
) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        CHILD,
        "--client",
        client,
        "--job",
        job,
        "--tag",
        tag,
        "--rows",
        str(args.rows),
        "--append-rows",
        str(args.append_rows),
        "--settings",
        json.dumps(settings),
    ]
    env = {**os.environ, "POLARS_ICEBERG_PLANNER": "pyiceberg"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{client} {job} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def empty_bucket(admin: Any, bucket: str) -> None:
    """Every version of every object, gone; the bucket stays (the catalog's rows point into
    it, but no later repetition reads them)."""
    paginator = admin.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        if entries:
            admin.delete_objects(
                Bucket=bucket,
                Delete={
                    "Objects": [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries],
                    "Quiet": True,
                },
            )


def bench(server: S3Endpoint, args: Any) -> dict[tuple[str, str], list[dict[str, float]]]:
    admin = s3_client(server)
    run = uuid.uuid4().hex[:6]
    buckets = {layer: f"bench-{run}-{layer}" for layer in ("bronze", "silver", "gold")}
    for name in buckets.values():
        create_versioned_bucket(admin, name)
    folder = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    settings = {
        "url": server.url,
        "key": server.access_key,
        "secret": server.secret_key,
        "buckets": buckets,
        "catalog": str(folder / "catalog.db"),
    }
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for rep in range(args.reps):
            for job in JOBS:
                # The order of clients turns each repetition, so none always goes first.
                chosen = args.clients
                order = chosen[rep % len(chosen) :] + chosen[: rep % len(chosen)]
                for client in order:
                    tag = f"{rep}{'a' if job == 'append' else ''}"
                    measured = run_child(settings, client, job, tag, args)
                    results.setdefault((client, job), []).append(measured)
                    print(
                        f"  rep {rep + 1} {job:<6} {client:<9} {measured['seconds']:7.2f} s "
                        f"{measured['cpu']:7.2f} s CPU {measured['peak_mib']:7.1f} MiB",
                        flush=True,
                    )
            # moto keeps every byte in memory: each repetition's tables go once read.
            empty_bucket(admin, buckets["silver"])
    finally:
        for name in buckets.values():
            purge_bucket(admin, name)
    return results


def report(name: str, results: dict[tuple[str, str], list[dict[str, float]]], args: Any) -> None:
    def median(client: str, job: str, key: str) -> float:
        return statistics.median(r[key] for r in results[(client, job)])

    sizes = {
        "write": f"{args.rows:,} x 10",
        "read": f"{args.rows:,} x 10",
        "append": f"{APPENDS} x {args.append_rows:,} rows",
    }
    clients = args.clients
    print(f"\n{name}: median wall seconds (CPU seconds) [peak MiB above the process before it]\n")
    others = [c for c in clients if c != "lakeops"]
    head = " | ".join(clients) + "".join(f" | lakeops / {c} (wall, CPU)" for c in others)
    print(f"| job | data | {head} |")
    print("|---|---|" + "---|" * (len(clients) + len(others)))
    for job in JOBS:
        cells = [
            f"{median(c, job, 'seconds'):.2f} ({median(c, job, 'cpu'):.2f}) "
            f"[{median(c, job, 'peak_mib'):.0f}]"
            for c in clients
        ]
        for other in others:
            wall = median("lakeops", job, "seconds") / median(other, job, "seconds")
            cpu = median("lakeops", job, "cpu") / median(other, job, "cpu")
            cells.append(f"{wall:.2f}, {cpu:.2f}")
        print(f"| {job} | {sizes[job]} | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(CHILD, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--servers", default="moto", help="moto, rgw, or moto,rgw (moto)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (3)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows written and read")
    parser.add_argument("--append-rows", type=int, default=1000, help="rows per append (1000)")
    parser.add_argument(
        "--clients",
        default=",".join(CLIENTS),
        help=f"which clients, lakeops among them ({','.join(CLIENTS)})",
    )
    args = parser.parse_args()
    args.clients = tuple(args.clients.split(","))
    if "lakeops" not in args.clients or set(args.clients) - set(CLIENTS):
        parser.error(f"--clients: lakeops and any of {', '.join(CLIENTS)}")
    if args.child:
        child(args)
        return
    for name in args.servers.split(","):
        if name == "moto":
            server = start_moto()
            try:
                report("moto", bench(server, args), args)
            finally:
                server.stop()
        elif name == "rgw":
            from tests.support import rgw

            state = Path(tempfile.mkdtemp(prefix="bench-rgw-"))
            started = rgw.start(state)
            try:
                endpoint = S3Endpoint(
                    started.http_url, started.access_key, started.secret_key, kind="rgw"
                )
                report("Ceph RGW (HTTP)", bench(endpoint, args), args)
            finally:
                rgw.stop(state)
        else:
            parser.error(f"unknown server {name!r}")


if __name__ == "__main__":
    main()
