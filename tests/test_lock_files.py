"""What `make venv` and CI install is pinned: requirements/*.txt hold every package with its
hashes, and they agree with pyproject.toml, so a dependency added without `make lock` fails
here instead of being installed unpinned."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.pulumi_stack import REPO

LOCK = REPO / "requirements" / "lock.txt"
BOOTSTRAP = REPO / "requirements" / "bootstrap.txt"
LOCKED_EXTRAS = ("infra", "test", "dev")  # what `make lock` compiles and `make venv` installs
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def pins(path: str) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in (REPO / path).read_text().splitlines():
        if match := PIN.match(line):
            found[canonicalize_name(match[1])] = Version(match[2])
    return found


def project_requirements() -> list[Requirement]:
    """The project's own dependencies and those of the locked extras, self-references
    (lakeops[infra-minio]) followed."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted, seen, found = (
        list(LOCKED_EXTRAS),
        set(),
        [Requirement(r) for r in project["dependencies"]],
    )
    while wanted:
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in extras[extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "lakeops":
                wanted.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


@pytest.mark.parametrize("requirement", project_requirements(), ids=str)
def test_every_requirement_is_pinned_within_its_range(requirement: Requirement) -> None:
    locked = pins("requirements/lock.txt")
    name = canonicalize_name(requirement.name)
    assert name in locked, f"{requirement} is not in requirements/lock.txt: run make lock"
    assert requirement.specifier.contains(locked[name], prereleases=True), (
        f"requirements/lock.txt pins {name}=={locked[name]}, outside {requirement}: run make lock"
    )


def test_the_build_backend_is_pinned_too() -> None:
    backend = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    locked = pins("requirements/bootstrap.txt")
    for text in backend:
        requirement = Requirement(text)
        assert requirement.specifier.contains(locked[canonicalize_name(requirement.name)])
    assert {"pip", "editables"} <= set(locked)


@pytest.mark.parametrize("path", ["requirements/lock.txt", "requirements/bootstrap.txt"])
def test_every_pin_has_hashes(path: str) -> None:
    """pip's --require-hashes refuses a file where one pin has none; checked here so that a
    hand edit is caught before CI installs."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (REPO / path).read_text())
    pinned = [block for block in blocks if PIN.match(block)]
    assert pinned
    for block in pinned:
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_make_venv_installs_only_from_the_locks_with_hashes() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile[makefile.index("$(STAMP):") :].split("\n\n", 1)[0]
    installs = [
        line.strip()
        for line in recipe.splitlines()
        if "pip install" in line or "PIP_LOCKED" in line
    ]
    assert installs == [
        "$(PIP_LOCKED) -r requirements/bootstrap.txt",
        "$(PIP_LOCKED) -r requirements/lock.txt",
        "$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .",
    ]
    assert "--require-hashes --no-deps" in makefile
    assert "LOCKS := requirements/bootstrap.txt requirements/lock.txt" in makefile
    assert recipe.startswith("$(STAMP): pyproject.toml $(LOCKS)"), "a changed lock rebuilds it"


def test_ci_builds_its_environment_through_make() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "pip install" not in ci, "CI installs only what make venv installs, from the locks"
