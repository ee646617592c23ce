"""Running the Pulumi program under Pulumi's own mocks, with a stack's committed config.

The harness records every registration (type, name, parent, provider, dependencies,
protect, replace, delete and alias options) as the engine would receive it, and reads the
stack's outputs only after the program's RPCs have all finished: assertions never run inside
an unrelated ``apply``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import yaml
from pulumi.runtime.mocks import MockMonitor

REPO = Path(__file__).resolve().parents[2]
PROJECT = "lake"


def load_stack_config(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """The stack file's config as the CLI hands it to a program: strings, objects as JSON.
    An override of None removes the key."""
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    raw: dict[str, Any] = {**document.get("config", {}), **(overrides or {})}
    config: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, dict) and "secure" in value:
            raise AssertionError(f"{key} is an encrypted value; the mocks cannot decrypt it")
        if isinstance(value, bool):
            config[key] = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            config[key] = json.dumps(value)
        else:
            config[key] = str(value)
    return config


@dataclass(frozen=True)
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: tuple[str, ...]
    protect: bool
    replace_on_changes: tuple[str, ...]
    delete_before_replace: bool
    retain_on_delete: bool
    # The URNs this resource was known by (its aliases, as the engine receives them).
    aliases: tuple[str, ...]
    inputs: dict[str, Any]
    state: dict[str, Any]


ACCOUNT_ID = "111122223333"
# What terraform-provider-aws appends to a name_prefix (create.Name: id.PrefixedUniqueId, a
# timestamp and a counter, 26 characters).
UNIQUE_SUFFIX = "20261125120000000000000001"


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers as providers would for the outputs the program reads (ARNs, secrets, ids).

    ``provider_state`` adds to a resource's outputs, by resource name: what a refresh reads
    from the cloud (a bucket with Object Lock enabled out of band, say)."""

    def __init__(self, provider_state: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.provider_state = provider_state or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if "namePrefix" in state and "name" not in state:
            state["name"] = state["namePrefix"] + UNIQUE_SUFFIX
        state.update(self.provider_state.get(args.name, {}))
        if args.typ in ("aws:s3/bucket:Bucket", "minio:index/s3Bucket:S3Bucket"):
            state["arn"] = f"arn:aws:s3:::{args.inputs['bucket']}"
        elif args.typ == "minio:index/iamUser:IamUser":
            state["secret"] = f"generated-secret-of-{args.inputs['name']}"
        elif args.typ in ("aws:iam/policy:Policy", "aws:iam/role:Role"):
            kind = args.typ.split(":")[-1].lower()
            state["arn"] = f"arn:aws:iam::111122223333:{kind}/{state['name']}"
        resource_id = args.inputs.get("bucket") or state.get("name") or f"{args.name}-id"
        return str(resource_id), state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append((args.token, args.provider))
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/deployer",
                "userId": "AIDAEXAMPLE",
                "id": ACCOUNT_ID,
            }, []
        raise AssertionError(f"the program made an unexpected provider call: {args.token}")


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            registration = Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=request.custom,
                parent=request.parent,
                provider=request.provider,
                dependencies=tuple(request.dependencies),
                protect=bool(request.protect),
                replace_on_changes=tuple(request.replaceOnChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                retain_on_delete=bool(request.retainOnDelete),
                aliases=tuple(request.aliasURNs)
                + tuple(alias.urn for alias in request.aliases if alias.urn),
                inputs=pulumi.runtime.rpc.deserialize_properties(request.object),
                state=self.resources[response.urn].state,
            )
            with self._lock:
                self.registrations.append(registration)
        return response


@dataclass
class StackRun:
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str, name: str) -> Registration:
        found = [r for r in self.of_type(type_token) if r.name == name]
        assert len(found) == 1, f"expected one {type_token} named {name}, found {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def type_counts(self) -> Counter[str]:
        return Counter(r.type for r in self.registrations)


def run_stack(
    stack: str,
    overrides: dict[str, Any] | None = None,
    *,
    preview: bool = False,
    provider_state: dict[str, dict[str, Any]] | None = None,
) -> StackRun:
    """Run the program of ``infra/`` for ``stack`` under mocks, and return what it declared;
    ``preview`` runs it as `pulumi preview` does;
    ``provider_state`` is what the providers report of existing resources (RecordingMocks)."""
    from lakeinfra.program import main

    pulumi.runtime.reset_options(project=PROJECT, stack=stack)
    mocks = RecordingMocks(provider_state)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(load_stack_config(stack, overrides))
    outputs: dict[str, Any] = {}
    secret: set[str] = set()

    async def resolve(exported: dict[str, Any]) -> None:
        for name, value in exported.items():
            output = pulumi.Output.from_input(value)
            outputs[name] = await output.future()
            if await output.is_secret():
                secret.add(name)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> Any:
        main()
        root = pulumi.runtime.get_root_resource()
        assert root is not None
        return asyncio.ensure_future(resolve(dict(root.outputs)))  # type: ignore[attr-defined]

    program()
    # run_pulumi_func has waited for every outstanding RPC before returning.
    return StackRun(list(monitor.registrations), outputs, secret, list(mocks.calls))
