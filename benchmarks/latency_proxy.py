"""A reverse proxy that adds a fixed delay to every request, for benchmarks under latency.

The kernel on these machines has no netem, so the delay comes from HAProxy (Debian's package,
`apt-get install -y haproxy`): `mode http`, and a Lua action that sleeps before each request
is passed on. HAProxy's Lua sleep yields to its event loop, so one process holds thousands of
delayed requests at once; `maxconn` is set high so that the proxy never queues a client.
Its stats socket counts the requests that went through (`requests()`), which the benchmarks
divide by the objects moved.

    python -m benchmarks.latency_proxy http://127.0.0.1:7480 --delay-ms 30   # runs until Ctrl-C
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_CONFIG = """\
global
    maxconn 4000
    lua-load {lua}
    stats socket {socket} mode 600 level admin
    nbthread 1

defaults
    mode http
    timeout connect 10s
    timeout client 300s
    timeout server 300s
    timeout http-request 300s
    maxconn 4000
    option http-server-close

frontend delayed
    bind 127.0.0.1:{port}
    http-request lua.delay
    default_backend server

backend server
    server s1 {upstream} maxconn 4000
"""

_LUA = """\
core.register_action("delay", {{ "http-req" }}, function(txn)
    {sleep}
end)
"""


@dataclass
class LatencyProxy:
    url: str
    delay_ms: int
    process: subprocess.Popen[bytes]
    state: Path

    def requests(self) -> int:
        """Requests the proxy has taken so far (its frontend's cumulative count)."""
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(self.state / "stats.sock"))
            client.sendall(b"show stat -1 1 -1 typed\n")
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        for line in answer.decode().splitlines():
            # F.<iid>.0.<field index>.<name>.<tags>:<type>:<value>
            if ".req_tot." in line:
                return int(line.rsplit(":", 1)[1])
        raise RuntimeError("HAProxy's stats have no req_tot for the frontend")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.state, ignore_errors=True)


def start(upstream_url: str, delay_ms: int) -> LatencyProxy:
    """A proxy in front of ``upstream_url`` (http only) that delays each request ``delay_ms``."""
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if haproxy is None:
        raise SystemExit("haproxy is not installed: apt-get install -y haproxy (as root)")
    upstream = urlsplit(upstream_url)
    if upstream.scheme != "http":
        raise SystemExit(f"the latency proxy forwards plain http only, not {upstream_url}")
    state = Path(tempfile.mkdtemp(prefix="lakeops-latency-"))
    port = _free_port()
    sleep = f"core.msleep({delay_ms})" if delay_ms > 0 else "-- no delay"
    (state / "delay.lua").write_text(_LUA.format(sleep=sleep))
    (state / "haproxy.cfg").write_text(
        _CONFIG.format(
            lua=state / "delay.lua",
            socket=state / "stats.sock",
            port=port,
            upstream=upstream.netloc,
        )
    )
    process = subprocess.Popen(
        [haproxy, "-f", str(state / "haproxy.cfg"), "-db"],
        stdout=subprocess.DEVNULL,
        stderr=(state / "haproxy.log").open("wb"),
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited: {(state / 'haproxy.log').read_text()[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            if (state / "stats.sock").exists():
                break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("haproxy did not start listening within 10 s")
    return LatencyProxy(f"http://127.0.0.1:{port}", delay_ms, process, state)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("upstream", help="the server's URL, e.g. http://127.0.0.1:7480")
    parser.add_argument("--delay-ms", type=int, default=30)
    args = parser.parse_args()
    proxy = start(args.upstream, args.delay_ms)
    print(proxy.url, flush=True)
    try:
        proxy.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print(f"{proxy.requests()} requests", flush=True)
        proxy.stop()


if __name__ == "__main__":
    main()
