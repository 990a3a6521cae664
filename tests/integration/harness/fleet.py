"""What the fleet-view tests share: real memcached and redis-server processes
on loopback ports (started and stopped by PID), the phones' User-Agents,
and reading the status handler's documents."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness.apache import MODULE_DIR, free_port
from harness.clients import curl

VVX = "FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application"
SOUNDPOINT = "FileTransport PolycomSoundPointIP-SPIP_550-UA/4.0.15.1047 (SN:0004f2000003) Type/Application"
EDGE = "FileTransport PolyEdge-Edge_E450-UA/8.0.1.0123 Type/Application"
HOSTILE = "Microbrowser/2.0 </td><script>alert('ua')</script>"

FLEET_MODULES = ("authz_host",)  # Require ip
SOCACHE_MODULES = {"shmcb": "socache_shmcb", "memcache": "socache_memcache", "redis": "socache_redis"}


def socache_load_line(provider):
    """The LoadModule a provider needs (the harness loads shmcb for mod_ssl already)."""
    if provider == "shmcb":
        return ""
    name = SOCACHE_MODULES[provider]
    return f"LoadModule {name}_module {MODULE_DIR}/mod_{name}.so\n"


class CacheServer:
    """memcached or redis-server on 127.0.0.1, owned by the test."""

    def __init__(self, kind, port=None):
        self.kind = kind
        self.port = port or free_port()
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix=f"polyprov-{kind}-")

    def command(self):
        if self.kind == "memcache":
            return [shutil.which("memcached") or "/usr/bin/memcached", "-l", "127.0.0.1", "-p", str(self.port),
                    "-U", "0", "-t", "1", "-m", "16"] + (["-u", "nobody"] if os.geteuid() == 0 else [])
        return [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--daemonize", "no"]

    def provider(self):
        return f"{self.kind}:127.0.0.1:{self.port}"

    def start(self):
        log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen on {self.port}")

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc, 10)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def stop_process(proc, timeout):
    """SIGTERM to a server this test started, SIGKILL if it lingers past `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def fetch(port, path, host="access.test", cacert=None, scheme="https", **kw):
    return curl(host, port, path=path, cacert=cacert, scheme=scheme, **kw)


def fleet_json(port, path="/fleet", **kw):
    r = fetch(port, path + "?json", **kw)
    assert r.ok and r.status == 200, (r.status, r.error, r.body[:300])
    assert r.headers.get("content-type") == "application/json"
    return json.loads(r.body)


def counters(port, path="/fleet", query="auto", **kw):
    r = fetch(port, f"{path}?{query}", **kw)
    assert r.ok and r.status == 200, (r.status, r.error)
    return dict(line.split(": ", 1) for line in r.body.decode().splitlines())


def wait_for(what, predicate, timeout=15, interval=0.25):
    """Polls predicate() until it returns (True, value), then returns value;
    the updater writes about once a second."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        done, seen = predicate()
        if done:
            return seen
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last seen: {seen!r}")


def by_mac(items):
    return {d["mac"]: d for d in items}


# -- the scripted fleet --------------------------------------------------

ME, OTHER, EXPIRED, PINNED, UNLISTED, FORGED, LOWER = (
    "0004F2000001", "0004F2000002", "0004F2000003", "0004F200000C", "64167F000002", "0004F200000A", "0004F2000013")
UPLOAD_BYTES = 1234


def plain_status_vhost(port):
    """The status page at /fleet on a plain-HTTP vhost of its own (Require ip
    127.0.0.1): for a browser that holds no client certificate."""
    return f"""
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    ServerName localhost
    <Location /fleet>
        SetHandler polyprov-status
        Require ip 127.0.0.1
    </Location>
</VirtualHost>
"""


def fleet_site(root, port, pki, fleet_line, status_extra="", vhost_extra="", name="access.test"):
    """Config for a provisioning vhost with a device list, an upload
    directory and the status page at /fleet (open) and /fleet-restricted
    (Require ip 127.0.0.2: start with FLEET_MODULES). fleet_line: the
    PolyProvFleet lines."""
    from harness.vhosts import tls_vhost
    docs = os.path.join(root, "htdocs")
    os.makedirs(os.path.join(docs, "logs"), exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(os.path.join(docs, "logs"), "www-data", "www-data")
    for mac in (ME, OTHER, EXPIRED, PINNED, UNLISTED, FORGED, LOWER, "000000000000"):
        with open(os.path.join(docs, f"{mac}.cfg"), "w") as f:
            f.write(f"<config for {mac}/>\n")
    acl = os.path.join(root, "conf", "phones.acl")
    with open(acl, "w") as f:
        f.write(f"{ME} label=desk\n{OTHER}\n{EXPIRED} label=\"Room 12\"\n"
                f"{PINNED} label=old sha256={pki['devices']['self_signed']['sha256']}\n"
                f"{FORGED} label=impostor\n{LOWER.lower()} label=lobby\n")
    site = f"""
    <Directory {docs}>
        PolyProvACLFile {acl}
    </Directory>
    <Directory {docs}/logs>
        PolyProvUpload on
    </Directory>
    <Location /fleet>
        SetHandler polyprov-status
        PolyProvRequireDevice off
        Require all granted
    </Location>
    <Location /fleet-restricted>
        SetHandler polyprov-status
        PolyProvRequireDevice off
        Require ip 127.0.0.2
    </Location>
{status_extra}"""
    return fleet_line + tls_vhost(port, name, pki, verify="optional_no_ca", waiver="leaf", extra=site + vhost_extra)


def phone(port, pki, device, path, user_agent, method=None, data=None, host="access.test"):
    d = pki["devices"][device]
    return curl(host, port, path=path, cert=d["cert"], key=d["key"], cacert=pki["server_ca"], method=method,
                data=data, headers={"User-Agent": user_agent})


# (device, method, path, User-Agent, status, decision), in order.
SCRIPT = [
    ("valid", "GET", f"/{ME}.cfg", VVX, 200, "allow"),
    ("valid", "GET", "/000000000000.cfg", VVX, 200, "allow"),
    ("valid", "GET", f"/{OTHER}.cfg", VVX, 403, "deny:mac-mismatch"),
    ("valid", "GET", f"/{OTHER}.cfg", VVX, 403, "deny:mac-mismatch"),
    ("valid", "GET", f"/{OTHER}.cfg", VVX, 403, "deny:mac-mismatch"),
    ("valid", "PUT", f"/logs/{ME}-app.log", VVX, 201, "allow"),
    ("expired", "GET", f"/{EXPIRED}.cfg", SOUNDPOINT, 200, "allow"),
    ("self_signed", "GET", f"/{PINNED}.cfg", EDGE, 200, "allow"),
    ("valid_ca2", "GET", f"/{UNLISTED}.cfg", VVX, 403, "deny:not-in-acl"),
    ("valid_ca2", "GET", f"/{UNLISTED}.cfg", VVX, 403, "deny:not-in-acl"),
    ("impostor", "GET", f"/{FORGED}.cfg", VVX, 403, "deny:unverified"),
    ("cn_lower", "GET", f"/{LOWER}.cfg", HOSTILE, 200, "allow"),
]


def run_script(port, pki, host="access.test"):
    """Plays the fleet against the server; returns (start, end) as Unix seconds."""
    start = int(time.time())
    for device, method, path, ua, status, decision in SCRIPT:
        data = "x" * UPLOAD_BYTES if method == "PUT" else None
        r = phone(port, pki, device, path, ua, method=method if method != "GET" else None, data=data, host=host)
        assert r.ok, (device, path, r.error)
        assert (r.status, r.headers.get("x-decision")) == (status, decision), (device, path, r.headers)
    return start, int(time.time()) + 1
