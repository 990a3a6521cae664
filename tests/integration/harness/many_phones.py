"""Thousands of phones for the fleet view's scale tests: distinct device
certificates (CN = a MAC each) issued by the test PKI's Issuing CA 1 the
way harness/pki.py issues its valid device, all sharing one RSA-2048 key
(a handshake is the cost, not key generation), and a client that makes each
phone do one fresh TLS handshake and one GET.

Every key here is generated at run time and is worthless outside a test."""

import collections
import multiprocessing
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness import pki as pki_mod
from harness.fleet import VVX, CacheServer

DEFAULT_PHONES = 5000
# Polycom's OUI and a block far from the MACs harness/pki.py uses (0004F20000xx).
MAC_BASE = 0xA00000
# Serial numbers of Issuing CA 1 above those harness/pki.py hands out (from 1001).
SERIAL_BASE = 10_000_000


def macs(n, start=0):
    """n distinct MACs, 12 upper-case hex digits each: 0004F2A00000, 0004F2A00001, ..."""
    return [f"0004F2{MAC_BASE + i:06X}" for i in range(start, start + n)]


@dataclass
class PhoneSet:
    dir: str
    key: str                    # the one private key every phone uses (PKCS#8 PEM)
    server_ca: str              # what the phones trust for the server
    phones: list = field(default_factory=list)   # (mac, path of leaf + chain PEM), in MAC order
    seconds: float = 0.0        # what generating them took

    @property
    def macs(self):
        return [mac for mac, _ in self.phones]

    def acl_lines(self, phones=None):
        return "".join(f"{mac}\n" for mac, _ in (phones if phones is not None else self.phones))


class _Issuer:
    """What pki.Authority.issue reads of its Authority, rebuilt in a worker
    process from PEM (cryptography's keys do not pickle)."""

    def __init__(self, key_pem, name_der, chain_pems, serial):
        self.key = serialization.load_pem_private_key(key_pem, password=None)
        self.name = x509.load_der_x509_certificate(name_der).subject
        self._chain = [x509.load_pem_x509_certificate(p) for p in chain_pems]
        self._serial = serial

    def chain_up(self):
        return list(self._chain)

    issue = pki_mod.Authority.issue


def _issue_chunk(args):
    """Worker: issues and writes the certificates of one chunk of phones."""
    issuer_key, issuer_der, chain_pems, leaf_key_pem, not_before, not_after, out_dir, first, chunk = args
    issuer = _Issuer(issuer_key, issuer_der, chain_pems, SERIAL_BASE + first)
    leaf_key = serialization.load_pem_private_key(leaf_key_pem, password=None)
    chain = b"".join(chain_pems)
    for mac, path in chunk:
        issued = issuer.issue(pki_mod._name(mac), leaf_key, not_before, not_after)
        with open(path, "wb") as f:
            f.write(pki_mod._pem(issued.cert) + chain)
    return len(chunk)


def generate(pki, out_dir, n=DEFAULT_PHONES, workers=None, authority="issuing1"):
    """Writes n phones' certificates (leaf + chain, as pki.py writes its
    device files) under out_dir and returns a PhoneSet. Valid for the same
    dates as pki.py's "valid" device. Issuing with the RSA-4096 CA is the
    cost (a few ms each): spread over the machine's cores."""
    start = time.monotonic()
    os.makedirs(out_dir, exist_ok=True)
    os.chmod(out_dir, 0o755)
    ca = pki["authorities"][authority]
    leaf_key = pki_mod._key(2048)
    key_path = os.path.join(out_dir, "phones.key")
    with open(key_path, "wb") as f:
        f.write(pki_mod._key_pem(leaf_key))
    phones = [(mac, os.path.join(out_dir, f"{mac}.pem")) for mac in macs(n)]
    issuer_key = ca.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    issuer_der = ca.cert.public_bytes(serialization.Encoding.DER)
    chain_pems = [pki_mod._pem(c) for c in ca.chain_up()]
    valid = (pki_mod.NOW - 365 * pki_mod.DAY, pki_mod.NOW + 3650 * pki_mod.DAY)
    workers = workers or max(1, min(os.cpu_count() or 1, 8))
    size = max(1, -(-n // (workers * 4)))
    jobs = [(issuer_key, issuer_der, chain_pems, pki_mod._key_pem(leaf_key), *valid, out_dir, i, phones[i:i + size])
            for i in range(0, n, size)]
    if workers == 1 or n < 200:
        done = sum(map(_issue_chunk, jobs))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            done = sum(pool.map(_issue_chunk, jobs))
    assert done == n
    return PhoneSet(out_dir, key_path, pki["server_ca"], phones, time.monotonic() - start)


@dataclass
class Served:
    statuses: collections.Counter      # HTTP status, or "error:<what>" when no response came
    wrong_mac: int                     # responses whose X-Mac was not the phone's own MAC
    failures: list                     # the first few (mac, what) that were not a 200 for the phone
    seconds: float
    handshakes: int

    @property
    def rate(self):
        return self.handshakes / self.seconds if self.seconds else 0.0


def one_phone(port, mac, cert, key, server_ca, path, host="access.test", user_agent=VVX, timeout=30):
    """One phone: a new TLS connection with its own certificate, one GET,
    closed. Returns (status, X-Mac header) or raises."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(server_ca)
    ctx.load_cert_chain(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        # Without it, the GET after the client's Finished waits for a delayed ACK.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\n"
                      "Connection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            # The body is a few bytes: read to the end, as a phone does.
            try:
                while s.recv(65536):
                    pass
            except (ssl.SSLError, OSError):
                pass
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    if not head or not head[0].startswith("HTTP/"):
        raise ConnectionError(f"no HTTP response: {data[:80]!r}")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers.get("x-mac")


def serve(ports, phone_set, phones=None, path="/000000000000.cfg", threads=4, host="access.test", user_agent=VVX):
    """Every phone (default: all of phone_set) does one handshake and one GET
    of `path`; phone i goes to ports[i % len(ports)] (one port: an int).
    Failures are counted, not retried."""
    ports = [ports] if isinstance(ports, int) else list(ports)
    phones = list(phone_set.phones if phones is None else phones)
    statuses, failures = collections.Counter(), []
    wrong = [0]
    lock = threading.Lock()
    next_index = [0]

    def worker():
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(phones):
                return
            mac, cert = phones[i]
            try:
                what, seen_mac = one_phone(ports[i % len(ports)], mac, cert, phone_set.key, phone_set.server_ca,
                                           path, host=host, user_agent=user_agent)
                detail = what
            except Exception as e:  # noqa: BLE001 - counted; the test asserts there are none
                what, seen_mac, detail = f"error:{type(e).__name__}", None, f"{type(e).__name__}: {e}"[:160]
            with lock:
                statuses[what] += 1
                if what == 200 and seen_mac != mac:
                    wrong[0] += 1
                if (what != 200 or seen_mac != mac) and len(failures) < 10:
                    failures.append((mac, detail, seen_mac))

    start = time.monotonic()
    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return Served(statuses, wrong[0], failures, time.monotonic() - start, len(phones))


class BigCacheServer(CacheServer):
    """A CacheServer whose memcached gets `megabytes` of memory (-m) instead
    of harness/fleet.py's 16; redis-server is unbounded anyway."""

    def __init__(self, kind, megabytes=16, port=None):
        super().__init__(kind, port)
        self.megabytes = megabytes

    def command(self):
        cmd = super().command()
        if self.kind == "memcache":
            cmd[cmd.index("-m") + 1] = str(self.megabytes)
        return cmd

    def stats(self):
        """memcached's `stats` (evictions, curr_items, bytes...) or redis's INFO as a dict."""
        if self.kind == "memcache":
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(b"stats\r\n")
                data = b""
                while not data.endswith(b"END\r\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            return {p[1]: p[2] for p in (line.split() for line in data.decode().splitlines()) if len(p) == 3}
        out = subprocess.run([shutil.which("redis-cli") or "/usr/bin/redis-cli", "-p", str(self.port), "info"],
                             capture_output=True, text=True, timeout=10).stdout
        return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def scratch_dir(prefix="polyprov-phones-"):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d
