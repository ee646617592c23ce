"""A PostgreSQL server for the tests: the shared dev catalog's database, on loopback.

PostgreSQL from Debian's packages (``apt-get install postgresql``; ``make postgres-packages``
does it as root), started in a folder of its own with ``initdb`` and ``pg_ctl`` as
tests/support/rgw.py starts Ceph: no systemd, no cluster of the system's. PostgreSQL refuses
to run as root, so as root the server runs as the ``postgres`` user the package creates. It
listens on 127.0.0.1 only, with password (SCRAM) authentication, as the compose service does.

    python -m tests.support.postgres start --state DIR   # prints the catalog URI
    python -m tests.support.postgres stop --state DIR
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.support.s3server import free_port

PACKAGES = "postgresql"
INSTALL_HINT = (
    "As root: apt-get update && apt-get install -y --no-install-recommends "
    f"{PACKAGES} (or make postgres-packages)"
)
USER = "lakeops"
DATABASE = "lakeops_catalog"
STATE_FILE = "postgres.json"
# CI sets it: there a server that cannot start is a failure, not a reason to skip.
REQUIRE_VAR = "LAKEOPS_TEST_REQUIRE_POSTGRES"


class PostgresError(RuntimeError):
    pass


def binaries() -> Path | None:
    """The folder with initdb and pg_ctl: Debian keeps them off PATH, per major version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return versions[0].parent if versions else None


@dataclass
class PostgresServer:
    state: str
    port: int
    user: str
    password: str
    database: str

    @property
    def uri(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @classmethod
    def load(cls, state: Path) -> PostgresServer:
        return cls(**json.loads((state / STATE_FILE).read_text()))


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresError(
            "running as root, and there is no 'postgres' user to run PostgreSQL as"
        ) from None
    return ["runuser", "-u", "postgres", "--", *argv]


def _run(argv: list[str], timeout: float = 120) -> str:
    done = subprocess.run(
        _as_server_user(argv), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        output = (done.stderr or done.stdout)[-1500:]
        raise PostgresError(f"{' '.join(argv[:2])} failed ({done.returncode}): {output}")
    return done.stdout


def start(state: Path | None = None) -> PostgresServer:
    """initdb a new cluster in ``state`` (a new temporary folder by default), start it."""
    folder = binaries()
    if folder is None:
        raise PostgresError(f"PostgreSQL is not installed (no initdb). {INSTALL_HINT}")
    state = Path(tempfile.mkdtemp(prefix="lakeops-pg-")) if state is None else state
    state.mkdir(parents=True, exist_ok=True)
    data, sockets = state / "data", state / "run"
    sockets.mkdir(exist_ok=True)
    password = secrets.token_urlsafe(18)
    password_file = state / "password"
    password_file.write_text(password + "\n")
    if os.geteuid() == 0:
        # The server user must reach its folders; /tmp's own mode lets it through to them.
        state.chmod(0o755)
        shutil.chown(state, "postgres")
        shutil.chown(sockets, "postgres")
        shutil.chown(password_file, "postgres")
    password_file.chmod(0o600)
    _run(
        [
            str(folder / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            USER,
            "--pwfile",
            str(password_file),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-instructions",
        ]
    )
    password_file.unlink()
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
    _run(
        [
            str(folder / "pg_ctl"),
            "--pgdata",
            str(data),
            "--log",
            str(state / "server.log"),
            "--options",
            options,
            "--wait",
            "--timeout",
            "60",
            "start",
        ]
    )
    server = PostgresServer(str(state), port, USER, password, DATABASE)
    try:
        _create_database(server)
    except BaseException:
        stop(state)
        raise
    (state / STATE_FILE).write_text(json.dumps(asdict(server)))
    return server


def _create_database(server: PostgresServer) -> None:
    import psycopg2

    deadline = time.monotonic() + 30
    while True:
        try:
            connection = psycopg2.connect(
                host="127.0.0.1",
                port=server.port,
                user=server.user,
                password=server.password,
                dbname="postgres",
                connect_timeout=5,
            )
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {server.database}")
    connection.close()


def stop(state: Path) -> None:
    folder = binaries()
    data = state / "data"
    if folder is None or not (data / "postmaster.pid").exists():
        return
    _run([str(folder / "pg_ctl"), "--pgdata", str(data), "--mode", "fast", "--wait", "stop"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.postgres", description=__doc__)
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            print(start(args.state).uri)
        else:
            stop(args.state)
    except PostgresError as exc:
        print(f"postgres: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
