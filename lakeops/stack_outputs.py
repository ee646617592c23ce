"""Reading a stack's outputs without importing Pulumi.

Two sources: an exported JSON file (what ``make outputs`` writes, and what a container gets
mounted), or the ``pulumi`` CLI when it is installed. Pipelines never need Pulumi itself.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

from lakeops.contract import StackOutputs, export_hint
from lakeops.errors import ConfigurationError

log = logging.getLogger(__name__)

EXPORT_DIR = ".lakeops"
CLI_TIMEOUT_SECONDS = 60
# The stack whose exported outputs lakeops uses by itself inside the project.
DISCOVERED_STACK = "dev"
# Where the Makefile keeps the dev stack's Pulumi state (file backend), for telling a stale
# export: Pulumi's file backend keeps one JSON checkpoint per stack.
STATE_DIR = ".pulumi-state"


def exported_outputs_path(project_dir: Path, stack: str) -> Path:
    """Where ``make outputs`` exports the outputs of ``stack``."""
    return project_dir / EXPORT_DIR / f"outputs-{stack}.json"


def find_project_dir(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that holds a ``Pulumi.yaml``."""
    for folder in (start, *start.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return None


def discovered_outputs(project_dir: Path) -> StackOutputs | None:
    """The dev stack's exported outputs in the project, if `make outputs` wrote them."""
    path = exported_outputs_path(project_dir, DISCOVERED_STACK)
    if not path.is_file():
        return None
    return read_outputs_file(path)


def stale_outputs(project_dir: Path, stack: str) -> str | None:
    """A note when the stack's state changed after its outputs were exported."""
    exported = exported_outputs_path(project_dir, stack)
    checkpoints = list((project_dir / STATE_DIR).glob(f".pulumi/stacks/*/{stack}.json"))
    if not exported.is_file() or not checkpoints:
        return None
    if max(p.stat().st_mtime for p in checkpoints) <= exported.stat().st_mtime:
        return None
    return (
        f"{exported.relative_to(project_dir)} is older than the {stack} stack's last update; "
        f"the lake may have changed since. Export the outputs again: {export_hint()}."
    )


def read_outputs_file(path: Path) -> StackOutputs:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"stack outputs file {str(path)!r} does not exist.",
            hint=(
                f"Export it with {export_hint()}, or name another file with --outputs-file"
                " or LAKEOPS_OUTPUTS_FILE."
            ),
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"stack outputs file {str(path)!r} cannot be read: {exc.strerror}.",
            hint="Check the file's permissions.",
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"stack outputs file {str(path)!r} is not valid JSON ({exc.msg}, line {exc.lineno}).",
            hint=f"Export it again with {export_hint()}.",
        ) from None
    # Shown absolute: `lakeops config` is run from anywhere, and a path relative to the
    # project (or to wherever the file was named from) says nothing from there.
    return StackOutputs.parse(
        data, source=f"file {str(path.resolve())!r}", base_dir=path.resolve().parent
    )


def read_outputs_from_cli(
    stack: str, project_dir: Path, pulumi: str, *, secrets: bool = False
) -> StackOutputs:
    """Run ``pulumi stack output --json`` for ``stack``. Secrets stay masked unless ``secrets``
    (a dev role's keys): then they go into memory only, never to a file."""
    command = [pulumi, "stack", "output", "--json", "--stack", stack, "--non-interactive"]
    if secrets:
        command.append("--show-secrets")
    try:
        done = subprocess.run(
            command,
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigurationError(
            f"`pulumi stack output` for stack {stack!r} did not finish in {CLI_TIMEOUT_SECONDS} s.",
            hint="Check the Pulumi backend (pulumi whoami), or use an exported outputs file.",
        ) from None
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise ConfigurationError(
            f"`pulumi stack output` failed for stack {stack!r} in {str(project_dir)!r}: "
            f"{last_line}",
            hint="Log in to the stack's backend (the Makefile sets PULUMI_BACKEND_URL for dev"
            + (", and PULUMI_CONFIG_PASSPHRASE for its secrets" if secrets else "")
            + "), or export the outputs with `make outputs` and set LAKEOPS_OUTPUTS_FILE.",
        )
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise ConfigurationError(
            f"`pulumi stack output --json` for stack {stack!r} printed something other than JSON.",
            hint="Run it by hand to see why.",
        ) from None
    return StackOutputs.parse(
        data, source=f"pulumi stack {stack!r}", base_dir=project_dir / EXPORT_DIR
    )


def read_stack_outputs(
    stack: str, project_dir: Path | None, *, secrets: bool = False
) -> StackOutputs:
    """The outputs of a named stack: from the CLI if it is installed (with its secrets when
    ``secrets``), else the exported file."""
    if project_dir is None:
        raise ConfigurationError(
            f"stack {stack!r} is named, but no Pulumi.yaml was found here or above.",
            hint="Run from the project, set LAKEOPS_PROJECT_DIR, or set LAKEOPS_OUTPUTS_FILE.",
        )
    exported = exported_outputs_path(project_dir, stack)
    pulumi = shutil.which("pulumi")
    if pulumi is not None:
        try:
            return read_outputs_from_cli(stack, project_dir, pulumi, secrets=secrets)
        except ConfigurationError as error:
            if not exported.is_file():
                raise
            log.warning("%s Using the exported %s instead.", error, exported)
    if exported.is_file():
        return read_outputs_file(exported)
    raise ConfigurationError(
        f"stack {stack!r} is named, but the pulumi CLI is not on PATH and {str(exported)!r} "
        "does not exist.",
        hint="`docker compose up -d` exports them (its minio-init service writes "
        f"{EXPORT_DIR}/outputs-dev.json); or install the Pulumi CLI and run `make outputs`.",
    )
