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
previous one's `cd` left and with the environment the previous one's `export` or `eval` left;
python blocks as scripts in that folder and environment, as `python - <<'EOF'` would run them);
`<!-- not run: why -->` names why a block is only shown (it needs Docker, say). Every fenced
block of the README carries one mark. The walkthrough goes on in the marked blocks of
docs/tables.md, then of docs/reference.md ("The library in a pipeline"), in the same session.

`make dev-lake` (demo/dev_lake.py) keeps the same lake up for a user: :func:`provision_dev_lake`
is the part both share.
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
REFERENCE = REPO / "docs" / "reference.md"
TABLES = REPO / "docs" / "tables.md"
# The pages whose marked blocks make up the walkthrough, in the order they run.
WALKTHROUGH_PAGES = (README, TABLES, REFERENCE)
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
    page: Path = README


def readme_blocks(text: str | None = None, *, page: Path = README) -> list[Block]:
    """Every fenced block of the README (or of ``page``), with its mark."""
    text = page.read_text() if text is None else text
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
                page=page,
            )
        )
    return blocks


def walkthrough_blocks() -> list[Block]:
    """The blocks the walkthrough runs, in order: the README's, then those of the docs pages
    that go on from it."""
    return [block for page in WALKTHROUGH_PAGES for block in readme_blocks(page=page) if block.run]


@dataclass
class DevLake:
    """A stand-in for the dev lake, and the shell a newcomer would have: its environment, and
    the folder it is in (``cwd``: the stand-in checkout at first, then wherever `cd` went)."""

    server: S3Endpoint
    outputs: Path
    env: dict[str, str]
    checkout: Path
    cwd: Path


@dataclass(frozen=True)
class ProvisionedLake:
    """The dev stack's lake on a server: its outputs (role keys included), ready to export, and
    an administrator's keys (what the MinIO root login is to the dev lake)."""

    outputs: dict[str, object]
    admin_access_key_id: str
    admin_secret_access_key: str


def provision_dev_lake(server: S3Endpoint) -> ProvisionedLake:
    """Apply the dev stack to a fresh moto server: its buckets, versioning, lifecycle and prefix
    markers, one IAM user per pipeline role with the role's own policy, and an administrator;
    then switch IAM enforcement on, so every request is checked against its caller's policy."""
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
    set_auth_enforcement(server, enforced=True)
    return ProvisionedLake(outputs, admin.access_key_id, admin.secret_access_key)


def export_outputs(outputs: dict[str, object], path: Path) -> None:
    """Write the outputs as `make outputs` does: readable by their owner alone, never half
    written (a reader sees the old file or the whole new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps(outputs, indent=2))
    partial.replace(path)


@contextmanager
def dev_lake(workdir: Path) -> Iterator[DevLake]:
    """The dev stack's lake on a fresh moto server, IAM enforced, outputs exported into
    ``workdir``, which stands in for the checkout: lakeops finds them there by itself."""
    server = start_moto()
    try:
        lake = provision_dev_lake(server)
        # What makes a folder the project for lakeops (stack_outputs.find_project_dir).
        shutil.copyfile(REPO / "Pulumi.yaml", workdir / "Pulumi.yaml")
        exported = workdir / ".lakeops" / "outputs-dev.json"
        export_outputs(lake.outputs, exported)
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
                "AWS_ACCESS_KEY_ID": lake.admin_access_key_id,
                "AWS_SECRET_ACCESS_KEY": lake.admin_secret_access_key,
                "HOME": str(workdir),
            }
        )
        for name in ("AWS_CA_BUNDLE", "AWS_REQUEST_CHECKSUM_CALCULATION"):
            if name in os.environ:
                env[name] = os.environ[name]
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


# What a shell keeps to itself rather than hands to the next command as its environment.
_SHELL_OWN = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})


def _run_shell(command: str, lake: DevLake) -> tuple[int, str]:
    """One shell line, as the next line of one shell session: in ``lake.cwd`` with ``lake.env``;
    a `cd` in it moves ``lake.cwd``, and an `export` or `eval` changes ``lake.env``, for the
    lines and blocks after it."""
    state = Path(tempfile.mkdtemp(prefix="walkthrough-shell-"))
    where, environment = state / "cwd", state / "env"
    script = (
        f"{command}\n__status=$?\n"
        f"pwd -P > {shlex.quote(str(where))}\n"
        f"env -0 > {shlex.quote(str(environment))}\n"
        "exit $__status\n"
    )
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
        if where.is_file() and where.read_text().strip():
            lake.cwd = Path(where.read_text().strip())
        if environment.is_file():
            pairs = (item.partition("=") for item in environment.read_text().split("\0") if item)
            lake.env = {name: value for name, _, value in pairs if name not in _SHELL_OWN}
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return done.returncode, done.stdout + done.stderr
