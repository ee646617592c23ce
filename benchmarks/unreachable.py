"""How long `lakeops ls` takes to fail, and how, for each way an endpoint can be unreachable.

    .venv/bin/python benchmarks/unreachable.py

Each case runs the command as a user would (a whole process, default settings: 2 s connect
timeout, 15 s read timeout, 3 attempts) and prints its wall time, exit code and first words.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.faults import SilentServer, blackholed  # noqa: E402
from tests.support.s3server import free_port  # noqa: E402


@contextmanager
def refused() -> Iterator[str]:
    yield f"http://127.0.0.1:{free_port()}"


@contextmanager
def silent() -> Iterator[str]:
    server = SilentServer()
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def hangs_up() -> Iterator[str]:
    """Accepts each connection and closes it at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


@contextmanager
def tls_to_plain() -> Iterator[str]:
    """https:// to a port that speaks plain HTTP (a mistyped scheme): here, one that hangs up."""
    with hangs_up() as url:
        yield url.replace("http://", "https://")


@contextmanager
def unknown_host() -> Iterator[str]:
    yield "http://lake.invalid:9000"


CASES: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [
    ("connection refused (nothing listens)", refused),
    ("unknown host name", unknown_host),
    ("blackholed (connections dropped)", blackholed),
    ("accepts, never answers", silent),
    ("accepts, hangs up at once", hangs_up),
    ("https:// to a plain port", tls_to_plain),
]


def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEOPS_"))}
    home = tempfile.gettempdir()
    env.update({"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "HOME": home})
    print("| endpoint | seconds to fail | exit | message |")
    print("|---|---|---|---|")
    for label, case in CASES:
        with case() as url:
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "lakeops", "--endpoint-url", url, "ls", "bronze"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            seconds = time.perf_counter() - started
        first = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
        print(f"| {label} | {seconds:.1f} | {done.returncode} | {first[:110]} |")


if __name__ == "__main__":
    main()
