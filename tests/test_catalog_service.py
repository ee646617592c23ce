"""The shared table catalog on the local platform: the compose service, its password, the
Make targets, and CI installing the PostgreSQL the catalog tests start."""

from __future__ import annotations

import re

from tests.support.pulumi_stack import REPO
from tests.test_platform_files import compose, make


def test_the_catalog_service_is_optional_pinned_private_and_persistent() -> None:
    service = compose()["services"]["catalog-db"]
    assert service["profiles"] == ["catalog"], "docker compose up -d must not start it"
    assert re.fullmatch(r"postgres@sha256:[0-9a-f]{64}", service["image"])
    assert [str(p) for p in service["ports"]] == ["127.0.0.1:5432:5432"]
    assert "catalog-data:/var/lib/postgresql/data" in service["volumes"]
    assert "catalog-data" in compose()["volumes"]
    assert service["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]


def test_its_password_is_a_secret_file_not_a_variable() -> None:
    document = compose()
    service = document["services"]["catalog-db"]
    environment = service["environment"]
    assert "POSTGRES_PASSWORD" not in environment
    assert environment["POSTGRES_PASSWORD_FILE"] == "/run/secrets/catalog_db_password"
    assert [str(s) for s in service["secrets"]] == ["catalog_db_password"]
    assert document["secrets"]["catalog_db_password"] == {"environment": "CATALOG_DB_PASSWORD"}
    example = (REPO / ".env.example").read_text()
    assert re.search(r"^CATALOG_DB_PASSWORD=\S+$", example, re.MULTILINE)
    # The Makefile's default is the same public dev value, and compose sees it exported.
    makefile = (REPO / "Makefile").read_text()
    default = re.search(r"^CATALOG_DB_PASSWORD=(\S+)$", example, re.MULTILINE)
    assert default is not None
    assert f"CATALOG_DB_PASSWORD ?= {default[1]}" in makefile
    assert "export CATALOG_DB_PASSWORD" in makefile


def test_make_starts_the_catalog_with_its_profile_and_never_prints_the_password() -> None:
    done = make("-n", "catalog-up")
    assert done.returncode == 0, done.stderr
    assert "docker compose --profile catalog up -d --wait catalog-db" in done.stdout
    assert "lakeops-catalog" not in done.stdout


def test_ci_installs_postgresql_and_never_skips_the_catalog_tests() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert script.index("make postgres-packages") < script.index("make test\n")
    assert "export LAKEOPS_TEST_REQUIRE_POSTGRES=1" in script
    done = make("-n", "postgres-packages")
    assert done.returncode == 0 and "apt-get install" in done.stdout
