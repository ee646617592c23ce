"""Resolving where the lake is and how to reach it.

Each setting is resolved on its own, from the first of these that has it:

1. explicit arguments;
2. the environment: the standard AWS variables, then ``LAKEOPS_*`` for what AWS has no name for;
3. a Pulumi stack's outputs: the file in ``LAKEOPS_OUTPUTS_FILE``, or the stack named by
   ``LAKEOPS_STACK`` (through the ``pulumi`` CLI, or the file ``make outputs`` exported);
4. the dev stack's defaults (local MinIO).

On AWS (``backend = aws``) steps 4's endpoint and credentials do not apply: the endpoint is
AWS's own and credentials come from boto3's default chain (profile, SSO, instance role...).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import boto3
import botocore.exceptions

from lakeops.catalog_contract import CatalogSpec
from lakeops.contract import Backend, LifecycleIntent, StackOutputs
from lakeops.errors import ConfigurationError
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.redaction import quoted, register_secret
from lakeops.roles import ENV_ROLE, RoleGrant, grant_for, session_name
from lakeops.stack_outputs import (
    DISCOVERED_STACK,
    discovered_outputs,
    exported_outputs_path,
    find_project_dir,
    read_outputs_file,
    read_stack_outputs,
    stale_outputs,
)

DEV_ENDPOINT = "http://localhost:9000"
DEV_REGION = "us-east-1"
DEV_ACCESS_KEY_ID = "minio"
# The public, documented password of the local development MinIO. Never a production secret.
DEV_SECRET_ACCESS_KEY = "minio123"  # noqa: S105 - public dev default, documented

ENV_OUTPUTS_FILE = "LAKEOPS_OUTPUTS_FILE"
ENV_STACK = "LAKEOPS_STACK"
ENV_PROJECT_DIR = "LAKEOPS_PROJECT_DIR"
ENV_BACKEND = "LAKEOPS_BACKEND"
# A SQL table catalog of your own (sqlite:////abs/file.db or postgresql://...), over the stack's.
ENV_CATALOG_URI = "LAKEOPS_CATALOG_URI"
ENV_REQUEST_CHECKSUMS = "LAKEOPS_REQUEST_CHECKSUM_CALCULATION"
# botocore's own names for the setting; the variable wins over the config-file key.
AWS_ENV_REQUEST_CHECKSUMS = "AWS_REQUEST_CHECKSUM_CALCULATION"
ChecksumCalculation = Literal["when_supported", "when_required"]
CHECKSUM_CALCULATIONS: tuple[ChecksumCalculation, ...] = ("when_supported", "when_required")


def bucket_env_var(layer: StorageLayer) -> str:
    return f"LAKEOPS_BUCKET_{layer.name}"


ENV_TRANSPORT = "LAKEOPS_TRANSPORT"
# How dataset jobs send their per-object requests: "crt" (the AWS Common Runtime, boto3[crt]),
# "boto3", or "auto" (the CRT when it is installed).
Transport = Literal["auto", "crt", "boto3"]
TRANSPORTS: tuple[Transport, ...] = ("auto", "crt", "boto3")
ENV_CONNECT_TIMEOUT = "LAKEOPS_CONNECT_TIMEOUT"
ENV_READ_TIMEOUT = "LAKEOPS_READ_TIMEOUT"
ENV_MAX_ATTEMPTS = "LAKEOPS_MAX_ATTEMPTS"


@dataclass(frozen=True)
class Timeouts:
    """How long lakeops waits for the S3 endpoint, and how often it tries.

    A refused connection fails at once; an unroutable endpoint after ``max_attempts`` connect
    timeouts; a server that accepts connections but never answers after ``max_attempts`` read
    timeouts and the pauses between them: at most 30 s with the defaults. The read timeout
    bounds each wait for bytes, not a whole transfer, so large objects are not cut short by it.
    """

    connect_seconds: float = 2.0
    # Three attempts of 9 s, and botocore's pauses between them (at most 1 s, then 2 s:
    # botocore/retries/standard.py, ExponentialBackoff), stay within 30 s.
    read_seconds: float = 9.0
    # Attempts in all, the first included (botocore's total_max_attempts).
    max_attempts: int = 3

    def __post_init__(self) -> None:
        for name in ("connect_seconds", "read_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(
                    f"timeout {name} must be a positive number of seconds, not {value!r:.40}.",
                    hint=f"Set {ENV_CONNECT_TIMEOUT} / {ENV_READ_TIMEOUT} to seconds, e.g. 15.",
                )
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
            raise ConfigurationError(
                f"max_attempts must be a whole number from 1 to 20, not {attempts!r:.40}.",
                hint=f"Set {ENV_MAX_ATTEMPTS} to the number of tries, the first included (3).",
            )


log = logging.getLogger(__name__)
# The stale exports warned about already: once per process is enough.
_warned_stale: set[str] = set()

SOURCE_ARGUMENT = "argument"
SOURCE_DEV_DEFAULT = "dev default"
SOURCE_LAKEOPS_DEFAULT = "lakeops default"

# S3 bucket naming rules, minus the legacy forms S3 no longer accepts.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _mask(value: str | None) -> str:
    return "(not set)" if value is None else "****"


@dataclass(frozen=True, repr=False)
class LakeConfig:
    """One resolved configuration. ``repr`` and ``describe`` never show secrets."""

    backend: Backend
    endpoint_url: str | None
    region: str
    buckets: Mapping[StorageLayer, str]
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    # What the stack declared, for `verify` to compare with; None without stack outputs.
    lifecycle: LifecycleIntent | None = None
    default_encryption: str | None = None
    # Where tables are catalogued (lakeops.tables); None when nothing declares a catalog.
    catalog: CatalogSpec | None = None
    # When boto3 adds CRC32 checksums to uploads: "when_supported" (its default) or
    # "when_required". Over HTTPS, "when_supported" sends aws-chunked bodies with a checksum
    # trailer, which some S3 servers (Ceph RGW 16.2) refuse with 411. None: boto3 decides,
    # from AWS_REQUEST_CHECKSUM_CALCULATION or the profile's request_checksum_calculation.
    request_checksum_calculation: ChecksumCalculation | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    transport: Transport = "auto"
    # The pipeline role acted as, if any; on AWS, the IAM role assumed and the session's name.
    role: str | None = None
    role_arn: str | None = None
    role_session_name: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    # What could not be resolved, when resolved leniently (for `lakeops config` to show).
    problems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        register_secret(self.secret_access_key)
        register_secret(self.session_token)

    def bucket(self, layer: StorageLayer | str) -> str:
        return self.buckets[StorageLayer.parse(layer)]

    @property
    def endpoint_label(self) -> str:
        """A name for the endpoint in messages."""
        return self.endpoint_url or f"AWS S3 ({self.region})"

    def describe(self) -> list[tuple[str, str, str]]:
        """(setting, value to show, where it came from), secrets masked."""
        rows = [
            ("backend", self.backend.value),
            ("endpoint", self.endpoint_url or "(AWS default)"),
            ("region", self.region),
            *((f"bucket.{layer}", self.buckets[layer]) for layer in StorageLayer),
            ("profile", self.profile or "(not set)"),
            ("role", self.role or self._no_role()),
            *((("role_arn", self.role_arn),) if self.role_arn else ()),
            ("access_key_id", show_key_id(self.access_key_id)),
            ("secret_access_key", _mask(self.secret_access_key)),
            ("session_token", _mask(self.session_token)),
            (
                "request_checksum_calculation",
                self.request_checksum_calculation or "(boto3 default)",
            ),
            ("connect_timeout", f"{self.timeouts.connect_seconds:g} s"),
            ("read_timeout", f"{self.timeouts.read_seconds:g} s"),
            ("max_attempts", str(self.timeouts.max_attempts)),
            ("transport", self.transport),
            ("catalog", self.catalog.describe() if self.catalog else "(none)"),
        ]
        sources = dict(self.sources)
        if self.role is None and self.sources.get("access_key_id") == SOURCE_DEV_DEFAULT:
            sources["role"] = SOURCE_DEV_DEFAULT
        return [(name, value, sources.get(name, "")) for name, value in rows]

    def _no_role(self) -> str:
        if self.sources.get("access_key_id") == SOURCE_DEV_DEFAULT:
            # The dev defaults are MinIO's root login: everything, everywhere.
            return "(none: the MinIO root login, for administration only; jobs use --role)"
        return "(none: the credentials' own rights)"

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value, _ in self.describe())
        return f"LakeConfig({shown})"

    @classmethod
    def resolve(
        cls,
        *,
        backend: Backend | str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        buckets: Mapping[StorageLayer | str, str] | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        profile: str | None = None,
        stack: str | None = None,
        outputs_file: str | os.PathLike[str] | None = None,
        request_checksum_calculation: str | None = None,
        timeouts: Timeouts | None = None,
        role: str | None = None,
        purpose: str | None = None,
        transport: str | None = None,
        lenient: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> LakeConfig:
        """Resolve a configuration; see the module docstring for the order of precedence.

        ``role`` (or LAKEOPS_ROLE) acts as one of the stack's pipeline roles; ``purpose`` names
        what for in an assumed role's session name. ``lenient`` records what cannot be
        resolved (a missing profile, a role without keys) in ``problems`` instead of raising.
        """
        return _Resolver(os.environ if env is None else env, lenient=lenient).resolve(
            backend=backend,
            endpoint_url=endpoint_url,
            region=region,
            buckets=buckets or {},
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            profile=profile,
            stack=stack,
            outputs_file=outputs_file,
            request_checksum_calculation=request_checksum_calculation,
            timeouts=timeouts,
            role=role,
            purpose=purpose,
            transport=transport,
        )


def show_key_id(value: str | None) -> str:
    if value is None:
        return "(not set)"
    # Access key ids identify, they do not authenticate; still, show only enough to recognise.
    return value[:4] + "****" if len(value) > 8 else "****"


class _Resolver:
    def __init__(self, env: Mapping[str, str], *, lenient: bool) -> None:
        self.env = env
        self.lenient = lenient
        self.sources: dict[str, str] = {}
        self.problems: list[str] = []

    def _tolerate(self, error: ConfigurationError) -> None:
        """In lenient mode, note a problem and go on; else raise it."""
        if not self.lenient:
            raise error
        self.problems.append(str(error))

    def _env(self, *names: str) -> tuple[str, str] | None:
        for name in names:
            value = self.env.get(name, "").strip()
            if value:
                return value, f"env {name}"
        return None

    def _pick(self, setting: str, *candidates: tuple[object, str] | None) -> object:
        """The first candidate whose value is not None; records where it came from."""
        for candidate in candidates:
            if candidate is not None and candidate[0] is not None:
                self.sources[setting] = candidate[1]
                return candidate[0]
        return None

    def resolve(
        self,
        *,
        backend: Backend | str | None,
        endpoint_url: str | None,
        region: str | None,
        buckets: Mapping[StorageLayer | str, str],
        access_key_id: str | None,
        secret_access_key: str | None,
        session_token: str | None,
        profile: str | None,
        stack: str | None,
        outputs_file: str | os.PathLike[str] | None,
        request_checksum_calculation: str | None,
        timeouts: Timeouts | None,
        role: str | None,
        purpose: str | None,
        transport: str | None,
    ) -> LakeConfig:
        outputs = self._stack_outputs(
            stack,
            outputs_file,
            named_backend=backend is not None,
            # A dev role's keys are a Pulumi secret: ask the CLI for them only then.
            secrets=role is not None or self._env(ENV_ROLE) is not None,
        )
        from_outputs = f"stack outputs ({outputs.source})" if outputs else ""

        chosen_backend = self._pick(
            "backend",
            (backend, SOURCE_ARGUMENT),
            self._env(ENV_BACKEND),
            (outputs.backend if outputs else None, from_outputs),
            (Backend.MINIO, SOURCE_DEV_DEFAULT),
        )
        resolved_backend = (
            chosen_backend
            if isinstance(chosen_backend, Backend)
            else Backend.parse(str(chosen_backend), source=self.sources["backend"])
        )
        on_aws = resolved_backend is Backend.AWS

        if endpoint_url is not None or self._env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            endpoint = self._pick(
                "endpoint",
                (endpoint_url, SOURCE_ARGUMENT),
                self._env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            )
        elif outputs is not None:
            # Outputs speak for the endpoint even when they say "none": that means AWS.
            endpoint = outputs.endpoint_url
            self.sources["endpoint"] = from_outputs
        elif on_aws:
            endpoint = None
            self.sources["endpoint"] = "AWS default"
        else:
            endpoint = DEV_ENDPOINT
            self.sources["endpoint"] = SOURCE_DEV_DEFAULT
        endpoint_str = _check_endpoint(endpoint, self.sources["endpoint"])

        chosen_profile = self._pick("profile", (profile, SOURCE_ARGUMENT), self._env("AWS_PROFILE"))
        profile_str = str(chosen_profile) if chosen_profile else None
        explicit_profile = profile is not None

        try:
            profile_region = _profile_region(profile_str)
        except ConfigurationError as missing:
            self._tolerate(missing)
            profile_region = None
        resolved_region = self._pick(
            "region",
            (region, SOURCE_ARGUMENT),
            self._env("AWS_REGION", "AWS_DEFAULT_REGION"),
            (outputs.region if outputs else None, from_outputs),
            profile_region,
            (DEV_REGION, SOURCE_DEV_DEFAULT),
        )

        resolved_buckets = {
            layer: self._bucket(layer, buckets, outputs, from_outputs) for layer in StorageLayer
        }
        self._check_distinct(resolved_buckets)
        if on_aws:
            self._check_aws_buckets(resolved_buckets)
        grant = self._role(role, outputs, resolved_backend)
        if grant is not None and grant.access_key_id is not None:
            # A MinIO role is its own user: its keys replace the environment's (the admin
            # shell's root login); explicit keys and a role contradict each other. (On AWS,
            # explicit keys are what the role is assumed with.)
            if access_key_id is not None:
                self._tolerate(
                    ConfigurationError(
                        f"both access keys and role {grant.role!r} were passed: the role is a "
                        "MinIO user that signs with its own keys, from the stack outputs.",
                        hint="Pass one or the other: the role to act as it, or the keys to "
                        "sign with them.",
                    )
                )
            self.sources["access_key_id"] = self.sources["secret_access_key"] = grant.source
            access_key_id, secret_access_key, session_token = (
                grant.access_key_id,
                grant.secret_access_key,
                None,
            )
        key_id, secret, token = self._credentials(
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            profile=profile_str,
            explicit_profile=explicit_profile,
            on_aws=on_aws,
        )
        return LakeConfig(
            backend=resolved_backend,
            endpoint_url=endpoint_str,
            region=str(resolved_region),
            buckets=resolved_buckets,
            access_key_id=key_id,
            secret_access_key=secret,
            session_token=token,
            profile=profile_str,
            lifecycle=outputs.lifecycle if outputs else None,
            default_encryption=outputs.default_encryption if outputs else None,
            catalog=self._catalog(outputs, from_outputs),
            request_checksum_calculation=self._checksum_calculation(request_checksum_calculation),
            timeouts=self._timeouts(timeouts),
            transport=self._transport(transport),
            role=grant.role if grant else None,
            role_arn=grant.role_arn if grant else None,
            role_session_name=session_name(grant.role, purpose)
            if grant and grant.role_arn
            else None,
            sources=dict(self.sources),
            problems=tuple(self.problems),
        )

    def _role(
        self, argument: str | None, outputs: StackOutputs | None, backend: Backend
    ) -> RoleGrant | None:
        chosen = self._pick("role", (argument, SOURCE_ARGUMENT), self._env(ENV_ROLE))
        if chosen is None:
            return None
        try:
            return grant_for(str(chosen), outputs, backend)
        except ConfigurationError as unusable:
            self._tolerate(unusable)
            return None

    def _catalog(self, outputs: StackOutputs | None, from_outputs: str) -> CatalogSpec | None:
        declared = outputs.catalog if outputs else None
        override = self._env(ENV_CATALOG_URI)
        if override is not None:
            self.sources["catalog"] = override[1]
            return CatalogSpec.from_uri(
                override[0],
                source=override[1],
                databases=declared.databases if declared else None,
            )
        if declared is not None:
            self.sources["catalog"] = from_outputs
        return declared

    def _transport(self, argument: str | None) -> Transport:
        chosen = self._pick(
            "transport",
            (argument, SOURCE_ARGUMENT),
            self._env(ENV_TRANSPORT),
            ("auto", SOURCE_LAKEOPS_DEFAULT),
        )
        value = str(chosen).strip().lower()
        for known in TRANSPORTS:
            if value == known:
                return known
        raise ConfigurationError(
            f"transport {str(chosen)[:40]!r} (from {self.sources['transport']}) is not one of "
            f"{', '.join(TRANSPORTS)}.",
            hint="Use auto (the default), crt or boto3.",
        )

    def _timeouts(self, argument: Timeouts | None) -> Timeouts:
        if argument is not None:
            for name in ("connect_timeout", "read_timeout", "max_attempts"):
                self.sources[name] = SOURCE_ARGUMENT
            return argument
        defaults = Timeouts()
        values: dict[str, float | int] = {}
        for setting, variable, field_name in (
            ("connect_timeout", ENV_CONNECT_TIMEOUT, "connect_seconds"),
            ("read_timeout", ENV_READ_TIMEOUT, "read_seconds"),
            ("max_attempts", ENV_MAX_ATTEMPTS, "max_attempts"),
        ):
            found = self._env(variable)
            if found is None:
                self.sources[setting] = SOURCE_LAKEOPS_DEFAULT
                values[field_name] = getattr(defaults, field_name)
                continue
            self.sources[setting] = found[1]
            try:
                values[field_name] = (
                    int(found[0]) if field_name == "max_attempts" else float(found[0])
                )
            except ValueError:
                raise ConfigurationError(
                    f"{variable} is {found[0][:40]!r}, not a number.",
                    hint=f"Set {variable} to a number, or unset it for the default.",
                ) from None
        return Timeouts(**values)  # type: ignore[arg-type]

    def _checksum_calculation(self, argument: str | None) -> ChecksumCalculation | None:
        chosen = self._pick(
            "request_checksum_calculation",
            (argument, SOURCE_ARGUMENT),
            self._env(ENV_REQUEST_CHECKSUMS, AWS_ENV_REQUEST_CHECKSUMS),
        )
        if chosen is None:
            return None
        value = str(chosen).strip().lower()
        for known in CHECKSUM_CALCULATIONS:
            if value == known:
                return known
        source = self.sources["request_checksum_calculation"]
        raise ConfigurationError(
            f"request checksum calculation {str(chosen)[:40]!r} (from {source}) is not "
            f"one of {', '.join(CHECKSUM_CALCULATIONS)}.",
            hint="Use when_required for S3 servers that refuse checksum trailers over HTTPS.",
        )

    def _stack_outputs(
        self,
        stack: str | None,
        outputs_file: str | os.PathLike[str] | None,
        *,
        named_backend: bool,
        secrets: bool,
    ) -> StackOutputs | None:
        file_value = self._pick(
            "outputs_file", (outputs_file, SOURCE_ARGUMENT), self._env(ENV_OUTPUTS_FILE)
        )
        if file_value is not None:
            return read_outputs_file(Path(str(file_value)))
        stack_value = self._pick("stack", (stack, SOURCE_ARGUMENT), self._env(ENV_STACK))
        project = self._env(ENV_PROJECT_DIR)
        project_dir = Path(project[0]) if project else find_project_dir(Path.cwd())
        if stack_value is not None:
            named = read_stack_outputs(str(stack_value), project_dir, secrets=secrets)
            if project_dir is not None and named.source.startswith("file "):
                self._note_stale(project_dir, str(stack_value))
            return named
        if named_backend or self._env(ENV_BACKEND) or project_dir is None:
            return None
        # Inside the project, with nothing named (no backend either: an argument counts as
        # much as LAKEOPS_BACKEND): the dev stack's exported outputs, as the
        # Make targets use them, so that `lakeops` and `make` always see the same lake.
        found = discovered_outputs(project_dir)
        if found is None:
            return None
        self.sources["outputs_file"] = f"found in the project ({found.source})"
        self._note_stale(project_dir, DISCOVERED_STACK)
        return found

    def _note_stale(self, project_dir: Path, stack: str) -> None:
        """An export older than its stack: a problem for `lakeops config` to show, and for any
        other use one warning per process (on stderr, where logging is not set up)."""
        stale = stale_outputs(project_dir, stack)
        if stale is None:
            return
        self.problems.append(stale)
        exported = str(exported_outputs_path(project_dir.resolve(), stack))
        if not self.lenient and exported not in _warned_stale:
            _warned_stale.add(exported)
            log.warning("%s", stale)

    def _bucket(
        self,
        layer: StorageLayer,
        buckets: Mapping[StorageLayer | str, str],
        outputs: StackOutputs | None,
        from_outputs: str,
    ) -> str:
        explicit = {StorageLayer.parse(k): v for k, v in buckets.items()}
        setting = f"bucket.{layer}"
        name = str(
            self._pick(
                setting,
                (explicit.get(layer), SOURCE_ARGUMENT),
                self._env(bucket_env_var(layer)),
                (outputs.buckets[layer] if outputs else None, from_outputs),
                (LAYOUT[layer].default_bucket, SOURCE_DEV_DEFAULT),
            )
        )
        if not _BUCKET_NAME.match(name) or ".." in name:
            raise ConfigurationError(
                f"bucket name {name!r} for {layer} (from {self.sources[setting]}) is not a valid "
                "S3 bucket name.",
                hint="Use 3-63 lower-case letters, digits, '.' and '-'.",
            )
        return name

    def _check_aws_buckets(self, buckets: dict[StorageLayer, str]) -> None:
        """Bucket names are global on AWS: the dev defaults there are strangers' buckets."""
        defaulted = [
            layer for layer in StorageLayer if self.sources[f"bucket.{layer}"] == SOURCE_DEV_DEFAULT
        ]
        if not defaulted:
            return
        layers = ", ".join(str(layer) for layer in defaulted)
        names = ", ".join(repr(buckets[layer]) for layer in defaulted)
        self._tolerate(
            ConfigurationError(
                f"on AWS, no bucket is named for {layers}: the dev defaults ({names}) are "
                "global AWS names that other accounts own.",
                hint="Point lakeops at the stack's outputs (LAKEOPS_OUTPUTS_FILE="
                ".lakeops/outputs-prod.json, or LAKEOPS_STACK=prod), or set "
                f"{', '.join(bucket_env_var(layer) for layer in defaulted)}.",
            )
        )

    def _check_distinct(self, buckets: dict[StorageLayer, str]) -> None:
        """Each layer needs its own bucket: bronze's conditional writes are per bucket."""
        seen: dict[str, StorageLayer] = {}
        for layer, name in buckets.items():
            if name in seen:
                first = seen[name]
                raise ConfigurationError(
                    f"{first} and {layer} both use bucket {name!r} (from "
                    f"{self.sources[f'bucket.{first}']} and {self.sources[f'bucket.{layer}']}).",
                    hint="Give every layer its own bucket.",
                )
            seen[name] = layer

    def _credentials(
        self,
        *,
        access_key_id: str | None,
        secret_access_key: str | None,
        session_token: str | None,
        profile: str | None,
        explicit_profile: bool,
        on_aws: bool,
    ) -> tuple[str | None, str | None, str | None]:
        if (access_key_id is None) != (secret_access_key is None):
            raise ConfigurationError(
                "only one of access_key_id and secret_access_key was passed.",
                hint="Pass both, or neither to use the environment.",
            )
        if access_key_id is not None:
            chosen = self.sources.get("access_key_id", SOURCE_ARGUMENT)
            return self._record_credentials(
                (chosen, chosen, SOURCE_ARGUMENT), access_key_id, secret_access_key, session_token
            )
        if explicit_profile:
            # An argument outranks the environment, keys included.
            self.sources["access_key_id"] = f"AWS profile {profile!r}"
            return None, None, None
        env_key = self._env("AWS_ACCESS_KEY_ID")
        env_secret = self._env("AWS_SECRET_ACCESS_KEY")
        if (env_key is None) != (env_secret is None):
            present = "AWS_ACCESS_KEY_ID" if env_key else "AWS_SECRET_ACCESS_KEY"
            raise ConfigurationError(
                f"{present} is set but its partner is not.",
                hint="Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither.",
            )
        if env_key is not None and env_secret is not None:
            token = self._env("AWS_SESSION_TOKEN")
            return self._record_credentials(
                ("env AWS_ACCESS_KEY_ID", "env AWS_SECRET_ACCESS_KEY", "env AWS_SESSION_TOKEN"),
                env_key[0],
                env_secret[0],
                token[0] if token else None,
            )
        if profile is not None:
            self.sources["access_key_id"] = f"AWS profile {profile!r}"
            return None, None, None
        if on_aws:
            self.sources["access_key_id"] = "boto3 default credential chain"
            return None, None, None
        return self._record_credentials(
            (SOURCE_DEV_DEFAULT,) * 3, DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY, None
        )

    def _record_credentials(
        self, sources: tuple[str, str, str], key_id: str, secret: str | None, token: str | None
    ) -> tuple[str | None, str | None, str | None]:
        self.sources["access_key_id"], self.sources["secret_access_key"] = sources[:2]
        if token is not None:
            self.sources["session_token"] = sources[2]
        check_credential_values(key_id, secret, f"from {sources[0]}")
        return key_id, secret, token


def check_credential_values(key_id: object, secret: object, source: str) -> None:
    """Keys that no server can accept are a configuration error before any request: the CRT's
    signer (boto3[crt] signs boto3's requests too) would raise a bare RuntimeError on an empty
    one."""
    for name, value in (("access key id", key_id), ("secret access key", secret)):
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(
                f"the {name} ({source}) is empty.",
                hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the profile's "
                "aws_access_key_id and aws_secret_access_key), or use a lakeops role; "
                "`lakeops config` shows where each setting comes from.",
            )


def _check_endpoint(endpoint: object, source: str) -> str | None:
    if endpoint is None:
        return None
    text = str(endpoint).strip().rstrip("/")
    if "@" in text:
        # Never repeat it: the part before '@' may be a password, and one with '/' in it (as
        # AWS secret keys often have) ends the URL's netloc early, so look at the whole text.
        raise ConfigurationError(
            f"the endpoint from {source} has a user name or password in it.",
            hint="Give only scheme, host and port (http://localhost:9000); pass credentials "
            "in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
        )
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"endpoint {quoted(text)} (from {source}) is not an http(s) URL.",
            hint="Write it with its scheme, for example http://localhost:9000.",
        )
    return text


def _profile_region(profile: str | None) -> tuple[object, str] | None:
    if profile is None:
        return None
    try:
        region = boto3.session.Session(profile_name=profile).region_name
    except botocore.exceptions.ProfileNotFound:
        raise ConfigurationError(
            f"AWS profile {profile!r} is not defined.",
            hint="Check AWS_PROFILE and ~/.aws/config (aws configure list-profiles).",
        ) from None
    return (region, f"AWS profile {profile!r}") if region else None
