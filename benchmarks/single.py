"""One large object: lakeops against boto3's own managed transfers, whole processes.

lakeops (the CLI: `lakeops upload|download|promote FILE ...`, SHA-256 recorded and checked,
atomic download, lineage) against a short boto3 script doing `upload_file`, `download_file`
and the managed `copy` with boto3's default TransferConfig. Medians of interleaved
repetitions; wall and CPU seconds of each process; the one-minute load average beside each.

    make bench-single                    # 128 MiB on moto
    .venv/bin/python benchmarks/single.py --servers moto,rgw --size-mib 128 --reps 3 \\
        --baseline ../main                # adds "lakeops before", another checkout's lakeops
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.datasets import BASELINE, Run, compile_checkouts, server_of, timed  # noqa: E402
from tests.conftest import s3_client  # noqa: E402
from tests.support.buckets import create_versioned_bucket, purge_bucket  # noqa: E402
from tests.support.s3server import REGION, S3Endpoint  # noqa: E402

JOBS = ("upload", "download", "promote")
BOTO3_CHILD = "--boto3"


def boto3_child(job: str, bucket: str, key: str, path: str, target_bucket: str) -> None:
    """boto3's managed transfer with its defaults (8 MiB parts, 10 threads)."""
    import boto3

    client = boto3.client("s3")
    if job == "upload":
        client.upload_file(path, bucket, key)
    elif job == "download":
        client.download_file(bucket, key, path)
    else:
        client.copy({"Bucket": bucket, "Key": key}, target_bucket, key)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", default="moto")
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None)
    args = parser.parse_args()
    if args.baseline:
        BASELINE["path"] = args.baseline.resolve()
    compile_checkouts()
    with tempfile.TemporaryDirectory(prefix="lakeops-single-") as tmp:
        scratch = Path(tmp)
        source = scratch / "big.bin"
        with source.open("wb") as handle:
            for _ in range(args.size_mib):
                handle.write(os.urandom(1024 * 1024))
        for kind in args.servers.split(","):
            with server_of(kind, scratch) as server:
                if server is not None:
                    results = measure(server, source, scratch, args.reps, args.baseline)
                    table(f"{kind} ({server.url}), one {args.size_mib} MiB object", results)


def measure(
    server: S3Endpoint, source: Path, scratch: Path, reps: int, baseline: Path | None
) -> dict[tuple[str, str], list[Run]]:
    admin = s3_client(server)
    run = uuid.uuid4().hex[:8]
    buckets = {layer: f"single-{run}-{layer}" for layer in ("bronze", "silver", "gold")}
    for name in buckets.values():
        create_versioned_bucket(admin, name)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **{f"LAKEOPS_BUCKET_{layer.upper()}": name for layer, name in buckets.items()},
    }
    lakeops = [sys.executable, "-m", "lakeops", "--no-progress"]
    clients = {"lakeops": lakeops, "boto3": [sys.executable, __file__, BOTO3_CHILD]}
    if baseline is not None:
        clients["lakeops before"] = ["env", f"PYTHONPATH={baseline.resolve()}", *lakeops]
    results: dict[tuple[str, str], list[Run]] = defaultdict(list)
    silver, gold = buckets["silver"], buckets["gold"]
    try:
        for rep in range(reps):
            names = sorted(clients)
            names = names[rep % len(names) :] + names[: rep % len(names)]
            for name in names:
                key = f"cleaned/{name.replace(' ', '')}-{rep}.bin"
                out = scratch / f"out-{rep}"
                command = clients[name]
                steps = {
                    "upload": (
                        [*command, "upload", str(source), "silver", key]
                        if name != "boto3"
                        else [*command, "upload", silver, key, str(source), gold]
                    ),
                    "download": (
                        [*command, "download", "silver", key, str(out)]
                        if name != "boto3"
                        else [*command, "download", silver, key, str(out), gold]
                    ),
                    "promote": (
                        [*command, "promote", "silver", key, "gold", f"ml/{key}"]
                        if name != "boto3"
                        else [*command, "copy", silver, key, "", gold]
                    ),
                }
                for job in JOBS:
                    done = timed(steps[job], env)
                    results[(job, name)].append(done)
                    print(
                        f"  {job:<8} {name:<14} {done.wall:6.2f} s  cpu {done.cpu:5.2f} s  "
                        f"load {done.load:.1f}",
                        file=sys.stderr,
                        flush=True,
                    )
                out.unlink(missing_ok=True)
                for bucket in (silver, gold):
                    for version in admin.list_object_versions(Bucket=bucket).get("Versions", []):
                        admin.delete_object(
                            Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
                        )
    finally:
        for name in buckets.values():
            purge_bucket(admin, name)
    return results


def table(title: str, results: dict[tuple[str, str], list[Run]]) -> None:
    clients = sorted({client for _, client in results})
    print(f"\n## {title}: median wall seconds (CPU seconds), whole processes\n")
    print("| job | " + " | ".join(clients) + " | lakeops / boto3 | load |")
    print("|---|" + "---|" * (len(clients) + 2))
    for job in JOBS:
        cells, medians, loads = [], {}, []
        for client in clients:
            runs = results[(job, client)]
            medians[client] = statistics.median(r.wall for r in runs)
            cpu = statistics.median(r.cpu for r in runs)
            cells.append(f"{medians[client]:.2f} ({cpu:.2f})")
            loads += [r.load for r in runs]
        ratio = medians["lakeops"] / medians["boto3"]
        print(
            f"| {job} | " + " | ".join(cells) + f" | {ratio:.2f} | "
            f"{min(loads):.1f} to {max(loads):.1f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == BOTO3_CHILD:
        job, bucket, key, path, target = sys.argv[2:]
        boto3_child({"copy": "promote"}.get(job, job), bucket, key, path, target)
    else:
        main()
