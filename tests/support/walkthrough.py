"""The README's walkthrough, run for real: against a local S3 test server that stands in for
the dev lake `make up` builds.

The lake is the dev stack's own: its program runs under Pulumi's mocks, and what it declares
(buckets, versioning, lifecycle, prefix markers) is applied to a moto server; each pipeline role
becomes an IAM user with the stack's own policy, and the server then enforces IAM, so every
step runs with exactly the rights its role has. The stack's outputs, role keys included, are
exported as `make outputs` would, into a stand-in checkout (a folder with the project's
`Pulumi.yaml` and `.lakeops/outputs-dev.json`), where lakeops finds them by itself as it does
in a real one, from any folder below. `make demo` shows it; tests/test_readme.py asserts it.

README blocks are marked: `<!-- walkthrough -->` before a block runs it in order, as one shell
session that starts in the stand-in checkout (bash blocks line by line, each in the folder the
previous one's `cd` left; python blocks as scripts, as `python - <<'EOF'` would run them);
`<!-- not run: why -->` names why a block is only shown (it needs Docker, say). Every fenced
block carries one mark.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lakeinfra.policies import ROLES, role_policy
from lakeops.layout import StorageLayer
from tests.conftest import s3_client
from tests.support.apply_stack import apply_s3_resources
from tests.support.iam import create_iam_user
from tests.support.pulumi_stack import run_stack
from tests.support.s3server import S3Endpoint, set_auth_enforcement, start_moto

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RUN_MARK = "<!-- walkthrough -->"
SHOWN_MARK = re.compile(r"<!-- not run: (?P<why>[^>]+) -->")
_FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "iam:*", "sts:*"], "Resource": "*"}],
}


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    run: bool
    why: str  # why it is only shown, when not run
    line: int


def readme_blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of the README, with its mark."""
    text = README.read_text() if text is None else text
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1].strip()
        shown = SHOWN_MARK.fullmatch(before)
        blocks.append(
            Block(
                lang=match["lang"],
                body=match["body"],
                run=before == RUN_MARK,
                why=shown["why"] if shown else "",
                line=text[: match.start()].count("\n") + 1,
            )
        )
    return blocks


@dataclass
class DevLake:
    """A stand-in for the dev lake, and the shell a newcomer would have: its environment, and
    the folder it is in (``cwd``: the stand-in checkout at first, then wherever `cd` went)."""

    server: S3Endpoint
    outputs: Path
    env: dict[str, str]
    checkout: Path
    cwd: Path


@contextmanager
def dev_lake(workdir: Path) -> Iterator[DevLake]:
    """The dev stack's lake on a fresh moto server, IAM enforced, outputs exported into
    ``workdir``, which stands in for the checkout: lakeops finds them there by itself."""
    server = start_moto()
    try:
        admin_client = s3_client(server)
        run = run_stack("dev")
        apply_s3_resources(run, admin_client)
        buckets = {StorageLayer(layer): name for layer, name in run.outputs["buckets"].items()}
        credentials = {}
        for role in ROLES:
            user = create_iam_user(
                server, f"lake-{role}-{uuid.uuid4().hex[:4]}", role_policy(role, buckets)
            )
            credentials[role] = {
                "accessKeyId": user.access_key_id,
                "secretAccessKey": user.secret_access_key,
            }
        admin = create_iam_user(server, f"lake-admin-{uuid.uuid4().hex[:4]}", ADMIN_POLICY)
        outputs = {**run.outputs, "endpoint": server.url, "roleCredentials": credentials}
        # What makes a folder the project for lakeops (stack_outputs.find_project_dir).
        shutil.copyfile(REPO / "Pulumi.yaml", workdir / "Pulumi.yaml")
        exported = workdir / ".lakeops" / "outputs-dev.json"
        exported.parent.mkdir(parents=True, exist_ok=True)
        exported.write_text(json.dumps(outputs, indent=2))
        exported.chmod(0o600)
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "LAKEOPS_"))
        }
        env.update(
            {
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                # The administrator's login, as the MinIO root login is in the dev lake; the
                # walkthrough's jobs run as roles.
                "AWS_ACCESS_KEY_ID": admin.access_key_id,
                "AWS_SECRET_ACCESS_KEY": admin.secret_access_key,
                "HOME": str(workdir),
            }
        )
        for name in ("AWS_CA_BUNDLE", "AWS_REQUEST_CHECKSUM_CALCULATION"):
            if name in os.environ:
                env[name] = os.environ[name]
        set_auth_enforcement(server, enforced=True)
        yield DevLake(server, exported, env, checkout=workdir, cwd=workdir)
    finally:
        server.stop()


@dataclass(frozen=True)
class Step:
    command: str
    code: int
    output: str
    # What the README says the step exits with ("# exits 5"); 0 unless it says otherwise.
    expected: int = 0

    @property
    def ok(self) -> bool:
        return self.code == self.expected


_EXITS = re.compile(r"#\s*exits (\d+)")


def run_block(block: Block, lake: DevLake) -> Iterator[Step]:
    """Run one walkthrough block in ``lake.cwd``: each shell line, or the whole python block."""
    if block.lang == "python":
        done = subprocess.run(
            [sys.executable, "-"],
            input=block.body,
            cwd=lake.cwd,
            env=lake.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        yield Step(block.body.strip(), done.returncode, done.stdout + done.stderr)
        return
    for line in block.body.splitlines():
        command = line.split(" #", 1)[0].strip()
        if not command or command.startswith("#"):
            continue
        said = _EXITS.search(line)
        code, output = _run_shell(command, lake)
        yield Step(command, code, output, int(said[1]) if said else 0)


def _run_shell(command: str, lake: DevLake) -> tuple[int, str]:
    """One shell line in ``lake.cwd``; a `cd` in it moves ``lake.cwd`` for the lines after."""
    fd, name = tempfile.mkstemp(prefix="walkthrough-cwd-")
    os.close(fd)
    where = Path(name)
    script = f"{command}\n__status=$?\npwd -P > {shlex.quote(name)}\nexit $__status\n"
    try:
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=lake.cwd,
            env=lake.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        moved = where.read_text().strip()
        if moved:
            lake.cwd = Path(moved)
    finally:
        where.unlink(missing_ok=True)
    return done.returncode, done.stdout + done.stderr
