"""A one-machine Ceph cluster with a RADOS Gateway (RGW): a real S3 server for the suite.

One monitor, one OSD that keeps its data in RAM (memstore), and radosgw serving both HTTP and
HTTPS on 127.0.0.1, everything under one state folder. From Make or a shell:

    python -m tests.support.rgw start --state DIR    # returns once S3 answers on both ports
    python -m tests.support.rgw env --state DIR --scheme https   # shell exports for pytest
    python -m tests.support.rgw stop --state DIR

The steps follow Ceph's own src/vstart.sh (Pacific). Ceph 16.2 as Debian bookworm ships it:
apt-get install --no-install-recommends radosgw ceph-mon ceph-osd ceph-common uuid-runtime openssl
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import errno
import functools
import ipaddress
import json
import os
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.s3server import (
    CA_BUNDLE_VAR,
    CHECKSUM_CALCULATION_VAR,
    EXTERNAL_ACCESS_KEY_VAR,
    EXTERNAL_ENDPOINT_VAR,
    EXTERNAL_KIND_VAR,
    EXTERNAL_SECRET_KEY_VAR,
    free_port,
)

PACKAGES = "radosgw ceph-mon ceph-osd ceph-common uuid-runtime openssl"
INSTALL_COMMAND = f"apt-get install -y --no-install-recommends {PACKAGES}"
BINARIES = ("ceph-authtool", "monmaptool", "ceph", "radosgw-admin")
# Stop order: the gateway first (it can hang on SIGTERM once its OSD is gone), the monitor last.
DAEMONS = ("radosgw", "ceph-osd", "ceph-mon")
ACCESS_KEY = "LAKEOPSRGWTESTKEY000"
SECRET_KEY = "lakeops-rgw-test-secret-0123456789abcdef"
RGW_NAME = "client.rgw.a"
STATE_FILE = "rgw.json"
START_TIMEOUT = 120.0


class RgwError(RuntimeError):
    pass


@dataclass
class RgwServer:
    state: str
    http_url: str
    https_url: str
    access_key: str
    secret_key: str
    ca_bundle: str

    def env(self, scheme: str) -> dict[str, str]:
        """What the suite needs to run against this server over ``scheme``."""
        env = {
            EXTERNAL_ENDPOINT_VAR: self.http_url,
            EXTERNAL_ACCESS_KEY_VAR: self.access_key,
            EXTERNAL_SECRET_KEY_VAR: self.secret_key,
            EXTERNAL_KIND_VAR: "rgw",
        }
        if scheme == "https":
            env[EXTERNAL_ENDPOINT_VAR] = self.https_url
            env[CA_BUNDLE_VAR] = self.ca_bundle
            # Over HTTPS boto3 sends checksums as aws-chunked trailers, which RGW 16.2 refuses
            # (411 MissingContentLength); the README's setting for such servers.
            env[CHECKSUM_CALCULATION_VAR] = "when_required"
        return env

    @classmethod
    def load(cls, state: Path) -> RgwServer:
        return cls(**json.loads((state / STATE_FILE).read_text()))


def _conf(state: Path, fsid: str, mon_port: int) -> str:
    return f"""\
[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{mon_port}]
public addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = {state}/keyring
run dir = {state}/run
admin socket = {state}/run/$name.asok
pid file = {state}/run/$name.pid
log file = {state}/log/$name.log
crash dir = {state}/crash
# One OSD: one copy of everything, and no warnings about it.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# No mgr, so no PG autoscaler: fixed small pools.
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
mon osd full ratio = .99
mon osd backfillfull ratio = .99
mon osd nearfull ratio = .99

[mon]
mon data = {state}/mon.$id

[osd]
osd data = {state}/osd.$id
# The [global] keyring would override the OSD's own; then the OSD cannot authenticate.
keyring = {state}/osd.$id/keyring
# Data in RAM: the most robust store on one machine, and gone when the OSD stops. Space is
# taken as used: four whole suite runs left 34 MiB stored (with the short GC wait below).
osd objectstore = memstore
memstore device bytes = {2 * 1024**3}
# Two cores: few OSD worker threads.
osd op num shards = 2
osd op num threads per shard = 1

[{RGW_NAME}]
rgw data = {state}/{RGW_NAME}
# rgw frontends: on radosgw's command line (_start_gateway).
rgw thread pool size = 32
# Deleted tails wait two hours for garbage collection by default; the RAM store cannot.
rgw gc obj min wait = 30
rgw gc processor period = 30
"""


def _write_certificates(folder: Path) -> Path:
    """A throwaway CA, and a server certificate it signs for 127.0.0.1 and localhost."""
    folder.mkdir(parents=True)
    now = datetime.datetime.now(datetime.UTC)

    def builder(
        subject: str, issuer: str, key: ec.EllipticCurvePrivateKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = "lakeops test CA"
    ca = (
        builder(ca_name, ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (
        builder("127.0.0.1", ca_name, key)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "ca.pem"


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _run(*argv: str, timeout: float = 60) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RgwError(f"{shlex.join(argv)} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-2000:]
        raise RgwError(f"{shlex.join(argv)} failed with status {done.returncode}:\n{output}")
    return done.stdout


class _Cluster:
    """The daemons of one start, so that a failed start can stop what it started."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.conf = str(state / "ceph.conf")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def tool(self, name: str, *args: str, timeout: float = 60) -> str:
        return _run(name, "--conf", self.conf, *args, timeout=timeout)

    def spawn(self, daemon: str, *args: str) -> None:
        with (self.state / "log" / f"{daemon}.out").open("ab") as log:
            # A session of its own: the daemons outlive `start` and ignore the terminal's ^C;
            # `stop` ends them by PID.
            self.processes[daemon] = subprocess.Popen(
                [daemon, "-f", "--conf", self.conf, *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pids = {name: process.pid for name, process in self.processes.items()}
        (self.state / "pids.json").write_text(json.dumps(pids))

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for daemon, process in self.processes.items():
                if process.poll() is not None:
                    raise RgwError(
                        f"{daemon} exited with status {process.returncode} while waiting for "
                        f"{what}; see {self.state / 'log'}"
                    )
            if ready():
                return
            time.sleep(0.2)
        raise RgwError(f"{what} did not happen within {timeout:.0f} s; see {self.state / 'log'}")

    def succeeds(self, name: str, *args: str) -> bool:
        try:
            self.tool(name, *args, timeout=10)
        except RgwError:
            return False
        return True

    def osd_up(self) -> bool:
        try:
            dump = json.loads(self.tool("ceph", "osd", "dump", "--format", "json", timeout=10))
        except RgwError:
            return False
        return any(osd.get("up") == 1 for osd in dump.get("osds", []))


def _answer(urls: tuple[str, str], ca_bundle: Path) -> bool:
    """Whether every URL answers, HTTPS with a certificate the CA vouches for."""
    context = ssl.create_default_context(cafile=str(ca_bundle))
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):  # noqa: S310 - loopback
                pass
        except urllib.error.HTTPError:
            pass  # an S3 error document is an answer
        except (urllib.error.URLError, OSError):
            return False
    return True


def start(state: Path) -> RgwServer:
    missing = [name for name in (*BINARIES, *DAEMONS) if shutil.which(name) is None]
    if missing:
        raise RgwError(
            f"Ceph is not installed ({', '.join(missing)} not found). As root, run: "
            f"apt-get update && {INSTALL_COMMAND}"
        )
    if _running_pids(state):
        raise RgwError(f"a cluster from {state} is still running; stop it first")
    if state.exists() and any(state.iterdir()) and not (state / "ceph.conf").exists():
        raise RgwError(f"{state} is not empty and not a cluster's folder; choose another")
    shutil.rmtree(state, ignore_errors=True)
    for folder in ("run", "log", "crash", "mon.a", "osd.0", RGW_NAME):
        (state / folder).mkdir(parents=True)
    state = state.resolve()
    ca_bundle = _write_certificates(state / "tls")
    fsid = str(uuid.uuid4())
    mon_port = free_port()
    (state / "ceph.conf").write_text(_conf(state, fsid, mon_port))
    cluster = _Cluster(state)
    try:
        _create(cluster, fsid, mon_port)
        http_url, https_url = _start_gateway(cluster, ca_bundle)
    except BaseException:
        stop(state)
        raise
    server = RgwServer(str(state), http_url, https_url, ACCESS_KEY, SECRET_KEY, str(ca_bundle))
    (state / STATE_FILE).write_text(json.dumps(asdict(server), indent=2))
    return server


def _start_gateway(cluster: _Cluster, ca_bundle: Path) -> tuple[str, str]:
    tls = cluster.state / "tls"
    for _ in range(3):
        # Ports chosen just before radosgw binds them, so that no other process takes them in
        # between; if one does all the same, radosgw exits with EADDRINUSE and we try others.
        http_port, https_port = free_port(), free_port()
        # tcp_nodelay: without it every small reply waits ~40 ms (Nagle meets delayed ACKs).
        frontends = (
            f"beast endpoint=127.0.0.1:{http_port} tcp_nodelay=1 "
            f"ssl_endpoint=127.0.0.1:{https_port} ssl_certificate={tls}/server.pem "
            f"ssl_private_key={tls}/server.key"
        )
        cluster.spawn("radosgw", "-n", RGW_NAME, "--rgw-frontends", frontends)
        urls = f"http://127.0.0.1:{http_port}", f"https://127.0.0.1:{https_port}"
        try:
            cluster.wait("radosgw to answer", functools.partial(_answer, urls, ca_bundle))
        except RgwError:
            if cluster.processes["radosgw"].returncode != errno.EADDRINUSE:
                raise
            continue
        return urls
    raise RgwError("radosgw found its ports taken three times over")


def _create(cluster: _Cluster, fsid: str, mon_port: int) -> None:
    """Monitor, OSD and the S3 user, in vstart.sh's order."""
    state, keyring = cluster.state, str(cluster.state / "keyring")
    authtool = ("ceph-authtool", keyring, "--gen-key")
    _run(*authtool, "--create-keyring", "-n", "mon.", "--cap", "mon", "allow *")
    _run(*authtool, "-n", "client.admin", "--cap", "mon", "allow *", "--cap", "osd", "allow *")
    _run(*authtool, "-n", RGW_NAME, "--cap", "mon", "allow rw", "--cap", "osd", "allow rwx")
    monmap = str(state / "monmap")
    address = f"[v2:127.0.0.1:{mon_port}]"
    _run("monmaptool", "--create", "--fsid", fsid, "--addv", "a", address, monmap)
    cluster.tool("ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", keyring)
    cluster.spawn("ceph-mon", "-i", "a")
    cluster.wait("the monitor to answer", lambda: cluster.succeeds("ceph", "mon", "stat"))

    secret = _run("ceph-authtool", "--gen-print-key").strip()
    osd_uuid = str(uuid.uuid4())
    request = state / "osd.0" / "new.json"
    request.write_text(json.dumps({"cephx_secret": secret}))
    cluster.tool("ceph", "osd", "new", osd_uuid, "0", "-i", str(request))
    cluster.tool("ceph-osd", "-i", "0", "--mkfs", "--key", secret, "--osd-uuid", osd_uuid)
    (state / "osd.0" / "keyring").write_text(f"[osd.0]\n\tkey = {secret}\n")
    cluster.spawn("ceph-osd", "-i", "0")
    cluster.wait("the OSD to come up", cluster.osd_up)

    # This creates RGW's pools, which takes a while on a fresh cluster.
    user = ("--uid", "lakeops", "--display-name", "lakeops tests")
    keys = ("--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
    cluster.tool("radosgw-admin", "user", "create", *user, *keys, timeout=START_TIMEOUT)


def _alive(pid: int, daemon: str) -> bool:
    """Whether ``pid`` is still ``daemon``: not gone, not a zombie, not a reused PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # Nobody may reap the daemons once `start` has exited; a zombie is as good as gone.
    return stat.rpartition(")")[2].split()[0] != "Z" and daemon.encode() in command


def _running_pids(state: Path) -> dict[str, int]:
    try:
        pids: dict[str, int] = json.loads((state / "pids.json").read_text())
    except (OSError, ValueError):
        return {}
    return {daemon: pid for daemon, pid in pids.items() if _alive(pid, daemon)}


def stop(state: Path, grace: float = 10.0) -> list[str]:
    """Stop the daemons started in ``state``, in order, by PID; say what was stopped."""
    running = _running_pids(state)
    stopped = []
    for daemon in DAEMONS:
        pid = running.get(daemon)
        if pid is None:
            continue
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while _alive(pid, daemon) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not _alive(pid, daemon):
                stopped.append(f"{daemon} ({pid}{', killed' if sig == signal.SIGKILL else ''})")
                break
        else:
            raise RgwError(f"{daemon} (pid {pid}) survived SIGKILL")
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.rgw", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "env"])
    parser.add_argument("--state", type=Path, required=True, help="the cluster's folder")
    parser.add_argument("--scheme", choices=["http", "https"], default="http", help="for env")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            started = time.monotonic()
            server = start(args.state)
            print(f"rgw: started in {time.monotonic() - started:.1f} s")
            print(f"rgw: {server.http_url} and {server.https_url} (CA {server.ca_bundle})")
        elif args.command == "stop":
            stopped = stop(args.state)
            print(f"rgw: stopped {', '.join(stopped) if stopped else 'nothing (not running)'}")
        else:
            for name, value in RgwServer.load(args.state).env(args.scheme).items():
                print(f"export {name}={shlex.quote(value)}")
    except RgwError as exc:
        print(f"rgw: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
