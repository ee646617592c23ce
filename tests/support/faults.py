"""Faults injected on the wire: an HTTP proxy in front of the S3 test server that breaks what
passes through it, and servers that misbehave on their own.

The proxy forwards each request unchanged (the Host header included, so signatures stay valid)
and applies the faults switched on: cut a response body short, flip a byte in it, drop a
request header, refuse a body that is not its Content-MD5's, answer slowly, hold a request
until the test lets it go, answer with an error of its own (503 SlowDown), or never answer.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Match = Callable[[str, str], bool]  # (method, path) -> whether the fault applies


def always(method: str, path: str) -> bool:
    return True


def object_gets(method: str, path: str) -> bool:
    """GETs of objects (a key after the bucket), not listings."""
    parts = path.split("?", 1)[0].strip("/").split("/", 1)
    return method == "GET" and len(parts) == 2 and parts[1] != ""


@dataclass
class Faults:
    cut_body_after: int | None = None  # bytes of the body sent before the connection drops
    cut_when: Match = object_gets
    corrupt_when: Match | None = None
    strip_headers: tuple[str, ...] = ()
    # Refuse a body whose Content-MD5 is not its own (400 BadDigest), as AWS, MinIO and RGW do
    # and moto does not: with strip_headers, a server that ignores If-None-Match as RGW does.
    check_digest: bool = False
    silent: bool = False
    slow_when: Match | None = None  # matching requests are forwarded only after a pause
    slow_seconds: float = 1.0
    # Matching requests wait until FaultProxy.release_held(): a test acts while they are held.
    hold_when: Match | None = None
    # Matching requests are answered by the proxy itself with this status and S3 error code.
    refuse_when: Match | None = None
    refuse_status: int = 503
    refuse_code: str = "SlowDown"
    seen: list[tuple[str, str]] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_tls = parts.scheme == "https"
        self.upstream_port = parts.port or (443 if self.upstream_tls else 80)
        self.faults = Faults()
        self._release = threading.Event()
        self._let_go = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def release_held(self) -> None:
        """Let the held requests (and any later ones) go on."""
        self._let_go.set()

    def stop(self) -> None:
        self._release.set()
        self._let_go.set()
        self._server.shutdown()
        self._server.server_close()

    def _read_body(self, handler: BaseHTTPRequestHandler) -> bytes:
        length = handler.headers.get("Content-Length")
        if length is not None:
            return handler.rfile.read(int(length))
        if "chunked" in handler.headers.get("Transfer-Encoding", ""):
            chunks = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while handler.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
            return b"".join(chunks)
        return b""

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        faults = self.faults
        method, path = handler.command, handler.path
        faults.seen.append((method, path))
        body = self._read_body(handler)
        if not self._wait_or_answer(handler, faults):
            return
        if faults.check_digest and not _digest_matches(handler.headers, body):
            self._refuse(handler, 400, "BadDigest")
            return
        headers = {
            name: value
            for name, value in handler.headers.items()
            if name.lower() not in {h.lower() for h in faults.strip_headers}
            and name.lower() != "transfer-encoding"
        }
        if body or method in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        upstream: http.client.HTTPConnection
        if self.upstream_tls:
            context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
            upstream = http.client.HTTPSConnection(
                self.upstream_host, self.upstream_port, timeout=60, context=context
            )
        else:
            upstream = http.client.HTTPConnection(
                self.upstream_host, self.upstream_port, timeout=60
            )
        try:
            upstream.request(method, path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            status, reason, reply_headers = response.status, response.reason, response.getheaders()
        finally:
            upstream.close()
        if faults.corrupt_when is not None and payload and faults.corrupt_when(method, path):
            middle = len(payload) // 2
            payload = payload[:middle] + bytes([payload[middle] ^ 0xFF]) + payload[middle + 1 :]
        handler.send_response(status, reason)
        for name, value in reply_headers:
            if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        cut = faults.cut_body_after
        if cut is not None and faults.cut_when(method, path) and len(payload) > cut:
            handler.send_header("Connection", "close")
            handler.end_headers()
            if method != "HEAD":
                handler.wfile.write(payload[:cut])
            handler.wfile.flush()
            handler.close_connection = True
            # A reset rather than a clean close, as a dropped connection looks.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            return
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(payload)

    def _wait_or_answer(self, handler: BaseHTTPRequestHandler, faults: Faults) -> bool:
        """Apply the faults that come before forwarding; False when the proxy answered (or
        will never answer) the request itself."""
        method, path = handler.command, handler.path
        if faults.silent:
            self._release.wait()
            handler.close_connection = True
            return False
        if faults.slow_when is not None and faults.slow_when(method, path):
            self._release.wait(faults.slow_seconds)
        if faults.hold_when is not None and faults.hold_when(method, path):
            faults.held.append((method, path))
            self._let_go.wait()
        if faults.refuse_when is not None and faults.refuse_when(method, path):
            self._refuse(handler, faults.refuse_status, faults.refuse_code)
            return False
        return True

    @staticmethod
    def _refuse(handler: BaseHTTPRequestHandler, status: int, code: str) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>refused by the test proxy</Message></Error>"
        ).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)


def _digest_matches(headers: Message, body: bytes) -> bool:
    sent = headers.get("Content-MD5")
    if sent is None or "aws-chunked" in headers.get("Content-Encoding", ""):
        return True
    return sent == base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.stop()


class SilentServer:
    """Accepts connections and never answers: a hung server, or a wrong port that listens."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(connection)

    def stop(self) -> None:
        self._stopped = True
        self._socket.close()
        for connection in self._held:
            connection.close()


@contextmanager
def blackholed() -> Iterator[str]:
    """The URL of a listener whose accept queue is full: new connections get no answer at
    all, as behind a firewall that drops packets, so each attempt waits for the connect
    timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            for filler in fillers:
                filler.close()
