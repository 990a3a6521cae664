"""Faults around a running server, against a real apache2: an anchor file
apache2 cannot read when it starts, an upload directory it cannot write, a
slow client in the middle of an upload and a writer stuck holding a file's
lock, and the ACL file deleted while phones are served. Each ends in an
exact status and log line, leaves the files as they were, and never hangs:
every client gives up well before the test would."""

import fcntl
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from harness.apache import HTTPD, Apache, new_server_root
from harness.files import on_disk
from harness.phone import Phone
from harness.vhosts import tls_vhost

ME, OTHER = "0004F2000001", "0004F2000002"
LOG = f"/logs/{ME}-app.log"
TIMEOUT = 3          # the server's Timeout, seconds: how long a writer waits for a file's lock
BODY_TIMEOUT = 2     # RequestReadTimeout body=...: how long a body may take to start and to keep coming


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def as_www_data(path):
    if os.geteuid() == 0:
        shutil.chown(path, "www-data", "www-data")


@pytest.fixture(scope="module")
def server(pki):
    apache = Apache(new_server_root())
    docs = os.path.join(apache.root, "htdocs")
    apache.docs = docs
    for d in ("logs", "readonly"):
        os.makedirs(os.path.join(docs, d))
    as_www_data(os.path.join(docs, "logs"))
    os.chmod(os.path.join(docs, "readonly"), 0o555)   # root's, and not writable by the children
    for name in (f"{ME}.cfg", "000000000000.cfg"):
        write(os.path.join(docs, name), f"content of {name}\n")
    apache.acl = os.path.join(apache.root, "conf", "phones.acl")
    write(apache.acl, f"{ME}\n{OTHER}\n")
    config = f"""
Timeout {TIMEOUT}
RequestReadTimeout header=10 body={BODY_TIMEOUT},minrate=500
<Directory {docs}>
    PolyProvRequireDevice on
    PolyProvACLFile {apache.acl}
</Directory>
<Directory {docs}/logs>
    PolyProvUpload on
</Directory>
<Directory {docs}/readonly>
    PolyProvUpload on
</Directory>
"""
    try:
        apache.start(config + tls_vhost(apache.port, "access.test", pki, verify="require"),
                     extra_modules=("reqtimeout",))
        yield apache
    finally:
        apache.stop()
    log = apache.read_error_log()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(apache.root)
    assert not re.search(r"\[polyprov:(crit|alert|emerg)\]|PP9\d\d", log), "module errors in the error log"


@pytest.fixture
def phone(server, pki):
    p = Phone(server.port, pki["devices"]["valid"], pki["server_ca"])
    yield p
    p.close()


def reset(server, rel, data):
    path = os.path.join(server.docs, rel.lstrip("/"))
    if os.path.lexists(path):
        os.unlink(path)
    if data is not None:
        write(path, data)
        as_www_data(path)


def lines(text, tag):
    return [line for line in text.splitlines() if tag in line]


# -- the anchor file, unreadable when apache2 starts -------------------------------

def test_unreadable_anchor_file_stops_the_start(pki, server_root):
    """A real start (not apache2 -t) by root that may not read the file, as
    under AppArmor or a root-squashing NFS mount: root without
    CAP_DAC_OVERRIDE, so a mode-0 file is as unreadable to it as to anyone."""
    apache = Apache(server_root)
    anchors = os.path.join(server_root, "conf", "anchors.pem")
    shutil.copy(pki["anchors"], anchors)
    os.chmod(anchors, 0o000)
    apache.write_config(tls_vhost(apache.port, "access.test", pki, verify="require", waiver="leaf", anchors=anchors))
    cmd = [HTTPD, "-f", apache.conf, "-DFOREGROUND"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] + cmd
    started = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=apache.env)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert time.monotonic() - started < 30
    line = next(i for i, text in enumerate(open(apache.conf), 1) if "PolyProvTrustAnchorFile" in text)
    assert f"Syntax error on line {line} of {apache.conf}" in out, out
    assert f"PolyProvTrustAnchorFile: {anchors}: cannot be read: Permission denied" in out, out
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", apache.port), timeout=1).close()


# -- an upload directory the server cannot write -----------------------------------

@pytest.mark.allow_log(r"PP301 upload refused \(500 io\): .*Permission denied")
def test_unwritable_upload_directory(server, phone):
    directory = os.path.join(server.docs, "readonly")
    path = f"/readonly/{ME}-app.log"
    target = os.path.join(directory, f"{ME}-app.log")
    mark = server.log_mark()
    # Never writable: not even the lock file can be made.
    status, _, _ = phone.put(path, b"first lines\n")
    assert status == 500
    assert os.listdir(directory) == []
    # Writable once (the lock file is there), now not: a read-only remount,
    # a chown gone wrong. The file is readable, not writable.
    lock_file = os.path.join(directory, ".polyprov.lock")
    write(lock_file, b"", 0o600)
    as_www_data(lock_file)
    write(target, b"kept\n", 0o444)
    status, _, _ = phone.put(path, b"more\n", start=5)
    assert status == 500
    status, _, _ = phone.put(path, b"replaced\n")
    assert status == 500
    assert on_disk(server, path) == b"kept\n"
    assert sorted(os.listdir(directory)) == [".polyprov.lock", f"{ME}-app.log"]
    refused = lines(server.log_since(mark), "PP301")
    assert len(refused) == 3, refused
    prefix = r"\[polyprov:error\].*PP301 upload refused \(500 io\): MAC 0004F2000001, path /readonly/0004F2000001-app\.log, "
    assert re.search(prefix + r"range -: lock file \.polyprov\.lock: Permission denied$", refused[0]), refused
    assert re.search(prefix + r"range bytes 5-9/\*: open: Permission denied$", refused[1]), refused
    assert re.search(prefix + r"range -: .*: Permission denied$", refused[2]), refused
    for path in os.listdir(directory):
        os.unlink(os.path.join(directory, path))


# -- slow clients and stuck writers --------------------------------------------------

def start_slow_put(server, pki, path, start, declared, trickle):
    """A phone that sends the headers of an append of `declared` bytes, then
    `trickle` bytes a second (0: nothing). Returns (thread, result dict)."""
    ctx = ssl.create_default_context(cafile=pki["server_ca"])
    ctx.load_cert_chain(pki["devices"]["valid"]["cert"], pki["devices"]["valid"]["key"])
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=20),
                           server_hostname="access.test")
    sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: access.test\r\nContent-Length: {declared}\r\n"
                 f"Content-Range: bytes {start}-{start + declared - 1}/*\r\n\r\n".encode())
    result = {}

    def run():
        began = time.monotonic()
        try:
            sent = 0
            # Until the server answers (or the body is all sent): a trickle.
            while not select.select([sock], [], [], 1 if trickle else 30)[0] and sent < declared:
                if trickle:
                    sock.sendall(b"s" * trickle)
                    sent += trickle
        except OSError:
            pass   # the server gave up on us: its answer is still to be read
        try:
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            result["status"] = int(answer.split(b" ", 2)[1]) if answer else 0
        except OSError as e:
            result["error"] = repr(e)
        result["seconds"] = time.monotonic() - began
        sock.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@pytest.mark.parametrize("trickle", [0, 100], ids=["silent", "trickling"])
def test_slow_client_holds_no_lock_and_is_cut_off(server, pki, phone, trickle):
    reset(server, LOG, "0123456789")
    mark = server.log_mark()
    thread, result = start_slow_put(server, pki, LOG, 10, 5000, trickle)
    time.sleep(0.5)
    # Meanwhile the same phone appends on another connection: not held up.
    began = time.monotonic()
    assert phone.put(LOG, b"ABC", start=10)[0] == 204
    assert time.monotonic() - began < 1.0
    thread.join(timeout=30)
    assert not thread.is_alive(), "the slow upload was never cut off"
    # Cut off by RequestReadTimeout with 408; its bytes never reach the file.
    assert result.get("status") == 408, result
    assert result["seconds"] < BODY_TIMEOUT + 5, result
    assert on_disk(server, LOG) == b"0123456789ABC"
    assert not [n for n in os.listdir(os.path.join(server.docs, "logs")) if n.startswith(".polyprov-upload")]
    refused = lines(server.log_since(mark), "PP301")
    assert len(refused) == 1, refused
    assert f"upload refused (408 body): MAC {ME}, path {LOG}, range bytes 10-5009/*" in refused[0], refused
    # And the lock is free the moment the request is over.
    began = time.monotonic()
    assert phone.put(LOG, b"D", start=13)[0] == 204
    assert time.monotonic() - began < 1.0


def lock_offset(name):
    """The byte of the directory's lock file that stands for `name` (FNV-1a,
    as the module chooses it)."""
    h = 1469598103934665603
    for c in name.encode():
        h = ((h ^ c) * 1099511628211) % 2 ** 64
    return h % 2 ** 40


@pytest.mark.allow_log(r"PP301 upload refused \(503 busy\)")
def test_stuck_writer_makes_others_wait_then_503(server, phone):
    """A writer that holds a file's lock and does not come back (an fsync on
    a dead NFS server) is simulated by this process holding that lock: other
    writers wait for it as long as the server's Timeout, then get 503 with
    Retry-After, and the file is untouched."""
    reset(server, LOG, "0123456789")
    name = os.path.basename(LOG)
    lock_file = os.path.join(server.docs, "logs", ".polyprov.lock")
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    as_www_data(lock_file)   # as the module makes it, if no upload has yet
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, lock_offset(name))
        mark = server.log_mark()
        began = time.monotonic()
        status, headers, _ = phone.put(LOG, b"late", start=10)
        waited = time.monotonic() - began
        assert status == 503
        assert headers.get("retry-after", "").isdigit()
        assert TIMEOUT - 0.5 <= waited < TIMEOUT + 5, waited
        assert on_disk(server, LOG) == b"0123456789"
        # Another file of the same directory is not held up.
        other = f"/logs/{ME}-boot.log"
        reset(server, other, None)
        began = time.monotonic()
        assert phone.put(other, b"boot\n")[0] == 201
        assert time.monotonic() - began < 1.0
        refused = lines(server.log_since(mark), "PP301")
        assert len(refused) == 1, refused
        assert re.search(r"\[polyprov:error\].*PP301 upload refused \(503 busy\): MAC 0004F2000001, "
                         r"path /logs/0004F2000001-app\.log, range bytes 10-13/\*: ", refused[0]), refused
    finally:
        os.close(fd)   # the stuck writer goes away
    assert phone.put(LOG, b"late", start=10)[0] == 204
    assert on_disk(server, LOG) == b"0123456789late"


# -- the ACL file deleted under a running server --------------------------------------

@pytest.mark.allow_log(r"PP203 .*phones\.acl: cannot be read: No such file or directory")
def test_acl_file_deleted_mid_run(server, pki):
    """The last good list stays in force (listed phones in, others out), the
    loss is logged once; a new file is picked up again."""
    with open(server.acl) as f:
        saved = f.read()
    listed = Phone(server.port, pki["devices"]["valid"], pki["server_ca"])
    unlisted = Phone(server.port, pki["devices"]["valid_ca2"], pki["server_ca"])
    try:
        assert listed.request("GET", "/000000000000.cfg")[0] == 200
        assert unlisted.request("GET", "/000000000000.cfg")[0] == 403
        mark = server.log_mark()
        os.unlink(server.acl)
        time.sleep(2.5)   # past the 2 s every process takes to notice
        for _ in range(10):
            assert listed.request("GET", "/000000000000.cfg")[0] == 200
            assert unlisted.request("GET", "/000000000000.cfg")[0] == 403
            listed.close()   # new connections: other children too
            unlisted.close()
        log = server.log_since(mark)
        gone = lines(log, "PP203")
        assert gone, log
        assert all(re.search(rf"\[polyprov:error\].*PP203 {re.escape(server.acl)}: cannot be read: "
                             r"No such file or directory; every process keeps the last good version", g)
                   for g in gone), gone
        assert len(gone) == 1, gone   # once for the change, not once per process
        time.sleep(1.2)
        mark = server.log_mark()
        for _ in range(5):
            assert listed.request("GET", "/000000000000.cfg")[0] == 200
        assert not lines(server.log_since(mark), "PP203"), "the missing file was reported again"

        # Back, with the other phone on it this time.
        write(server.acl + ".new", saved + "64167F000002\n")
        os.rename(server.acl + ".new", server.acl)
        deadline = time.monotonic() + 2.5
        while unlisted.request("GET", "/000000000000.cfg")[0] != 200:
            assert time.monotonic() < deadline, "the restored ACL file was not picked up in 2 s"
            time.sleep(0.2)
        assert lines(server.log_since(mark), "PP202")
    finally:
        listed.close()
        unlisted.close()
        if not os.path.exists(server.acl):
            write(server.acl, saved)
