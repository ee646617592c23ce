"""What the command shows on a real terminal: progress bars, drawn in a pseudo-terminal and
read back through a terminal emulator (pyte), as a person would see the screen."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyte
import pytest

from lakeops import Lake, StorageLayer
from lakeops.transfers import MiB
from tests.support.s3server import REGION, S3Endpoint

COLUMNS, LINES = 120, 30


class Terminal:
    """A command running on a pseudo-terminal, and the screen it draws."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        self.seen: list[str] = []  # every distinct screen, in order
        leader, follower = pty.openpty()
        self._leader = leader
        self.process = subprocess.Popen(
            argv, stdin=follower, stdout=follower, stderr=follower, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
        os.close(follower)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display).strip()

    def pump(self, seconds: float) -> None:
        """Read what the command writes, a little at a time, keeping each screen it shows."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._leader], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self._leader, 256)
                except OSError:  # the command ended and its side of the terminal closed
                    return
                if not data:
                    return
                for line in data.splitlines(keepends=True):
                    self.stream.feed(line)
                    shown = self.text()
                    if not self.seen or self.seen[-1] != shown:
                        self.seen.append(shown)
            elif self.process.poll() is not None:
                return

    def wait_for(self, condition: Callable[[str], bool], seconds: float = 60) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            self.pump(0.02)
            if any(condition(screen) for screen in self.seen):
                return True
        return False

    def finish(self, seconds: float = 120) -> int:
        deadline = time.monotonic() + seconds
        while self.process.poll() is None and time.monotonic() < deadline:
            self.pump(0.1)
        self.pump(0.5)
        os.close(self._leader)
        return self.process.wait(timeout=5)


@pytest.fixture
def run(s3: S3Endpoint, lake: Lake, tmp_path: Path) -> Callable[..., Terminal]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": s3.url,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_REGION": REGION,
        "TERM": "xterm",
        "COLUMNS": str(COLUMNS),
        "LINES": str(LINES),
        **{f"LAKEOPS_BUCKET_{layer.name}": lake.config.bucket(layer) for layer in StorageLayer},
    }
    for name in ("AWS_PROFILE", "LAKEOPS_OUTPUTS_FILE", "LAKEOPS_STACK", "LAKEOPS_ROLE"):
        env.pop(name, None)

    def start(*argv: str) -> Terminal:
        return Terminal([sys.executable, "-m", "lakeops", *argv], env, tmp_path)

    return start


def big_file(tmp_path: Path, size: int = 96 * MiB) -> Path:
    path = tmp_path / "big.bin"
    with path.open("wb") as out:
        for _ in range(size // MiB):
            out.write(os.urandom(MiB))
    return path


def test_each_phase_shows_its_own_bar_and_none_is_left_on_the_screen(
    run: Callable[..., Terminal], tmp_path: Path
) -> None:
    source = big_file(tmp_path)

    terminal = run("upload", str(source), "silver", "cleaned/big.bin")
    code = terminal.finish()

    assert code == 0, terminal.text()
    screens = terminal.seen
    hashing = [s for s in screens if "hashing" in s]
    uploading = [s for s in screens if "uploading" in s]
    assert hashing and uploading, screens
    # One phase at a time: while the upload's bar shows, the hashing bar is gone.
    assert all("hashing" not in s for s in uploading)
    # When it is over, only the result is on the screen, from the line's first column.
    last = terminal.screen.display[terminal.screen.cursor.y - 1]
    assert last.startswith("s3://") and last.rstrip().endswith("/cleaned/big.bin"), last
    assert "hashing" not in terminal.text() and "uploading" not in terminal.text()


def test_ctrl_c_leaves_one_line_and_no_bar(run: Callable[..., Terminal], tmp_path: Path) -> None:
    source = big_file(tmp_path)
    terminal = run("upload", str(source), "silver", "cleaned/big.bin")
    assert terminal.wait_for(lambda text: "uploading" in text or "hashing" in text)

    os.killpg(terminal.process.pid, signal.SIGINT)
    code = terminal.finish()

    assert code == 130
    assert terminal.text().splitlines()[-1] == "lakeops: error: interrupted."
    assert "hashing" not in terminal.text() and "uploading" not in terminal.text()


def test_a_server_side_copy_counts_time_not_bytes(
    run: Callable[..., Terminal], lake: Lake, tmp_path: Path
) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(3 * MiB))
    lake.upload(source, "silver", "cleaned/data.bin")

    terminal = run("promote", "silver", "cleaned/data.bin", "gold", "reports/data.bin")
    code = terminal.finish()

    assert code == 0
    copying = [s for s in terminal.seen if "copying (server-side)" in s]
    # Shown with the time waited, never as a byte count stuck at 0%.
    assert all("0%" not in s for s in copying)
    assert terminal.text().splitlines()[-1].startswith("s3://")
    assert terminal.text().splitlines()[-1].endswith("/reports/data.bin")


def test_a_dataset_job_has_one_bar_with_files_bytes_and_rate(
    run: Callable[..., Terminal], tmp_path: Path
) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    for n in range(300):
        (folder / f"page-{n:04d}.json").write_bytes(os.urandom(8192))

    terminal = run("upload", "--recursive", str(folder), "bronze", "api/events/2024-01-15/")
    code = terminal.finish()

    assert code == 0, terminal.text()
    bars = [s for s in terminal.seen if "uploading" in s]
    assert bars, terminal.seen
    assert any("files" in s and "/300" in s for s in bars)
    two = [s for s in bars if s.count("uploading") != 1]
    assert not two, f"one bar for the whole job, not:\n{two[0]}"
    final = terminal.text()
    assert "uploaded 300 objects" in final and "published:" in final
    assert "uploading" not in final


WARNS_DURING_A_JOB = """
import logging, sys, time
from lakeops.cli import _logging
from lakeops.cli.progress import JobBar
from lakeops.datasets.runner import JobProgress

bar = JobBar("upload", sys.stderr)
with _logging(False, sys.stderr):
    for done in range(1, 11):
        bar(JobProgress("transferring", done, 10, done * 1024, 10 * 1024, 0, 0.1 * done))
        if done == 5:
            logging.getLogger("lakeops.ops").warning("the server ignores If-None-Match")
        time.sleep(0.05)
    bar.close()
print("done")
"""


def test_a_warning_during_a_job_gets_its_own_line_and_the_bar_goes_on_below_it(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "TERM": "xterm", "COLUMNS": str(COLUMNS), "LINES": str(LINES)}
    terminal = Terminal([sys.executable, "-c", WARNS_DURING_A_JOB], env, tmp_path)

    assert terminal.finish() == 0, terminal.text()
    warned = [s for s in terminal.seen if "ignores If-None-Match" in s]
    assert warned, terminal.seen
    for screen in warned:
        lines = screen.splitlines()
        assert "lakeops: warning: the server ignores If-None-Match" in lines
        assert sum("uploading" in line for line in lines) <= 1, screen
    assert terminal.text().splitlines() == [
        "lakeops: warning: the server ignores If-None-Match",
        "done",
    ]
