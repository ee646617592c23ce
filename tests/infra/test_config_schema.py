"""Pulumi.yaml declares every lake:* key the program reads, and the committed stacks fit it.

The Pulumi CLI checks a stack's config against the project's `config:` block before the
program runs (pulumi/pulumi sdk/go/common/workspace/project.go: ValidateConfig for the
declarations, ValidateConfigValue for each value: string, integer (a whole number, or a string
that parses as one), boolean (or "true"/"false"), object (a map), array with typed items).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.support.pulumi_stack import REPO

TYPES = {"string", "integer", "boolean", "array", "object"}


def project_config() -> dict[str, Any]:
    config = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    assert isinstance(config, dict)
    return config


def _integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value == math.trunc(value)
    return isinstance(value, int) or (isinstance(value, str) and value.lstrip("-").isdigit())


SCALARS: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: isinstance(value, str),
    "integer": _integer,
    "boolean": lambda value: isinstance(value, bool) or value in ("true", "false"),
    "object": lambda value: isinstance(value, dict),
}


def valid(type_name: str, items: dict[str, Any] | None, value: Any) -> bool:
    """As ValidateConfigValue does."""
    if type_name in SCALARS:
        return bool(SCALARS[type_name](value))
    if not isinstance(value, list) or items is None:
        return False
    return all(valid(items["type"], items.get("items"), item) for item in value)


def keys_the_program_reads() -> set[str]:
    calls = []
    for module, function in (("stack_config", "load_lake_args"), ("catalog", "load_catalog_args")):
        source = (REPO / "infra" / "lakeinfra" / f"{module}.py").read_text()
        body = source[source.index(f"def {function}") :]
        calls += re.findall(r"lake\.(?:get|get_bool|get_int|get_secret|require)\(\"(\w+)\"", body)
        calls += re.findall(r"_(?:object|int)\(lake, \"(\w+)\"", body)
    return {f"lake:{key}" for key in calls}


def test_every_key_the_program_reads_is_declared_with_a_type_and_a_description() -> None:
    declared = project_config()
    read = keys_the_program_reads()
    assert len(read) == 23
    assert read == set(declared)
    for key, declaration in declared.items():
        assert declaration["type"] in TYPES, key
        assert declaration.get("description"), key
        if declaration["type"] == "array":
            assert declaration["items"]["type"] in TYPES, key
        if declaration.get("secret"):
            assert "default" not in declaration, key
        if "default" in declaration:
            assert valid(declaration["type"], declaration.get("items"), declaration["default"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_committed_stacks_fit_the_declarations(stack: str) -> None:
    declared = project_config()
    config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    for key, value in config.items():
        if key.startswith("lake:"):
            declaration = declared[key]
            assert valid(declaration["type"], declaration.get("items"), value), key


def test_a_value_of_the_wrong_type_does_not_fit() -> None:
    declared = project_config()
    assert not valid(declared["lake:noncurrentVersionDays"]["type"], None, "thirty")
    assert not valid(declared["lake:accessLogs"]["type"], None, "yes")
    items = declared["lake:deployerPrincipals"]["items"]
    assert not valid("array", items, "arn:aws:iam::1:role/x")
