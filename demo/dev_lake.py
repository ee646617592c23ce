"""`make dev-lake`: a local lake without Docker, up until Ctrl-C.

Not MinIO: a moto server on loopback (a local S3 test server), given the dev stack's buckets,
prefix markers and pipeline roles (IAM enforced) by the same code the README's walkthrough test
uses (tests/support/walkthrough.py). It exports the stack outputs, role keys included, to the
checkout's `.lakeops/outputs-dev.json`, where lakeops finds them by itself, and its table
catalog to `.lakeops/catalog-dev-lake.db`. Its data lives in memory. On Ctrl-C (or SIGTERM) it
stops the server and removes both files, so that nothing left behind points lakeops, or a later
`make up`, at a server that is gone.

The checkout's own outputs of `make up` are never replaced: when `.lakeops/outputs-dev.json`
holds them, this refuses, unless told another file with --outputs-file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
from pathlib import Path
from types import FrameType

# The Pulumi program's package (the lake is the dev stack's own) lives in infra/.
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "infra"))

from tests.support.s3server import start_moto  # noqa: E402
from tests.support.walkthrough import export_outputs, provision_dev_lake  # noqa: E402

RULE = "-" * 78
OUTPUTS = Path(".lakeops/outputs-dev.json")
CATALOG = "catalog-dev-lake.db"  # beside the outputs file; not make up's catalog-dev.db
# What a running dev lake wrote, and its process id: how a later run tells our files (to
# replace, when the process that wrote them is gone) from make up's (never replaced).
OWNER = Path(".lakeops/dev-lake.json")


class Refused(Exception):
    """A reason not to start, said in one line with the way out."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_orphan(pid: object) -> None:
    if not isinstance(pid, int) or not _alive(pid):
        return
    try:  # the process id may have been given to another process since: check what it runs
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"moto.server" in command:
        os.kill(pid, signal.SIGTERM)


def _claim(project: Path, outputs: Path) -> Path:
    """The owner file, once the outputs path is ours to write: free, or left by a dev lake
    that is no longer running."""
    owner = project / OWNER
    if owner.is_file():
        try:
            recorded = json.loads(owner.read_text())
            pid, written = int(recorded["pid"]), [Path(p) for p in recorded["files"]]
        except (ValueError, KeyError, TypeError):
            raise Refused(
                f"{owner} is not a dev lake's record; remove it if no `make dev-lake` runs."
            ) from None
        if _alive(pid):
            raise Refused(
                f"a dev lake is already running (process {pid}, its outputs in "
                f"{recorded.get('outputs')}); use it, or stop it with Ctrl-C where it runs."
            )
        # A dev lake that was killed: its files point at a server that is gone, or that runs on
        # alone (in a session of its own, so nothing stopped it): stop it, if it is still ours.
        _stop_orphan(recorded.get("server_pid"))
        for path in written:
            path.unlink(missing_ok=True)
        owner.unlink(missing_ok=True)
    if outputs.exists():
        raise Refused(
            f"{outputs} exists: the outputs of the dev lake `make up` built, which this would "
            "replace. Give the local lake a file of its own: make dev-lake "
            "DEV_LAKE_OUTPUTS=.lakeops/outputs-local.json (then export LAKEOPS_OUTPUTS_FILE as "
            "it says), or move that file away."
        )
    return owner


def _banner(url: str, outputs: Path, project: Path, discovered: bool) -> str:
    how = (
        f"lakeops finds them by itself in {project} and any folder below it."
        if discovered
        else f"Give them to lakeops in each shell: export LAKEOPS_OUTPUTS_FILE={outputs}"
    )
    return textwrap.dedent(
        f"""
        {RULE}
        A LOCAL TEST SERVER (moto) at {url}: not MinIO, and not the dev lake `make up`
        builds, but the same buckets, prefix markers and pipeline roles (IAM enforced).
        Its data lives in memory and is gone when it stops.
        Outputs, with the roles' keys: {outputs}
        {how}
        Every command names a role: lakeops --role ingest sample
        (roles: ingest, transform, publish, analyst; there is no MinIO root login here).
        Press Ctrl-C to stop it; it then removes the files it wrote.
        {RULE}"""
    )


def run(project: Path, outputs: Path) -> int:
    project = project.resolve()
    if not (project / "Pulumi.yaml").is_file():
        raise Refused(f"{project} is not the checkout (no Pulumi.yaml): run make dev-lake there.")
    outputs = outputs if outputs.is_absolute() else project / outputs
    owner = _claim(project, outputs)
    catalog = outputs.parent / CATALOG
    written = [outputs, catalog, owner]

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # Also when started in the background of a script, which leaves SIGINT ignored.
    signal.signal(signal.SIGINT, stop)
    print("Starting a local S3 test server (moto) on 127.0.0.1 ...", flush=True)
    # In a session of its own, the server does not see the terminal's Ctrl-C: this process
    # stops it, after the clean-up, rather than the two racing.
    server = start_moto(own_session=True)
    try:
        lake = provision_dev_lake(server)
        document = dict(lake.outputs)
        catalog_output = document.get("catalog")
        if isinstance(catalog_output, dict):
            document["catalog"] = {**catalog_output, "path": CATALOG}
        owner.parent.mkdir(parents=True, exist_ok=True)
        owner.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "server_pid": server.process.pid if server.process else None,
                    "outputs": str(outputs),
                    "files": [str(p) for p in written],
                }
            )
        )
        export_outputs(document, outputs)
        discovered = outputs == project / OUTPUTS
        print(_banner(server.url, outputs, project, discovered), flush=True)
        if server.process is not None:
            server.process.wait()  # until Ctrl-C or SIGTERM interrupts it
        print("The test server stopped by itself.", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        server.stop()
        for path in written:
            path.unlink(missing_ok=True)
        print(
            f"\nThe local test server is stopped, its data gone; removed {outputs.name} and "
            f"{catalog.name} from {outputs.parent}.",
            flush=True,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make dev-lake",
        description="A local lake without Docker (a moto server, not MinIO), up until Ctrl-C.",
        allow_abbrev=False,
    )
    parser.add_argument("--project-dir", type=Path, default=REPO, help="the checkout")
    parser.add_argument(
        "--outputs-file",
        type=Path,
        default=OUTPUTS,
        help=f"where to export the outputs (default {OUTPUTS}, relative to the checkout)",
    )
    args = parser.parse_args(argv)
    try:
        return run(args.project_dir, args.outputs_file)
    except Refused as refused:
        print(f"make dev-lake: {refused}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
