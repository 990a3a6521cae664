"""Two nodes, one upload directory: two real apache2 servers (one event,
one prefork) behind one name share their DocumentRoot, as nodes sharing an
NFSv4 export would. A phone's HEAD on one node and PUT on the other, many
writers on both at once, a rotation both race for, and one node's sweep of
dead uploads' temporaries while the other node has an upload in flight."""

import os
import re
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time

import pytest

from harness.apache import Apache, new_server_root
from harness.files import process_holding, upload_temporaries
from harness.phone import Phone
from harness.vhosts import tls_vhost

ME, OTHER = "0004F2000001", "0004F2000002"
SMALL_MAX = 4096


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    if os.geteuid() == 0:
        shutil.chown(path, "www-data", "www-data")


@pytest.fixture(scope="module")
def shared():
    """The directory both nodes serve and write."""
    root = tempfile.mkdtemp(prefix="polyprov-shared-")
    os.chmod(root, 0o755)
    for d in ("logs", "small", "sweep"):
        os.makedirs(os.path.join(root, d))
        if os.geteuid() == 0:
            shutil.chown(os.path.join(root, d), "www-data", "www-data")
    write(os.path.join(root, "phones.acl"), f"{ME}\n{OTHER}\n".encode())
    yield root
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def nodes(shared, pki):
    config = f"""
    <Directory {shared}>
        PolyProvRequireDevice on
        PolyProvACLFile {shared}/phones.acl
        Require all granted
    </Directory>
    <Directory {shared}/logs>
        PolyProvUpload on
    </Directory>
    <Directory {shared}/small>
        PolyProvUpload on
        PolyProvUploadMaxSize {SMALL_MAX}
        PolyProvUploadKeep 3
    </Directory>
    <Directory {shared}/sweep>
        PolyProvUpload on
    </Directory>
"""
    servers = []
    try:
        for mpm in ("event", "prefork"):
            apache = Apache(new_server_root(), mpm=mpm)
            servers.append(apache)
            apache.start(config + tls_vhost(apache.port, "access.test", pki, verify="require",
                                             extra=f"    DocumentRoot {shared}\n"))
        yield servers
    finally:
        for apache in servers:
            apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):
        for apache in servers:
            shutil.rmtree(apache.root, ignore_errors=True)


def phones(nodes, pki):
    return [Phone(node.port, pki["devices"]["valid"], pki["server_ca"]) for node in nodes]


def on_both_nodes(nodes, pki, work, count=8, timeout=300):
    """work(t, phone) in `count` threads at once, thread t's phone talking to
    node t % 2; fails when one has not finished within `timeout`."""
    def run(t):
        phone = Phone(nodes[t % 2].port, pki["devices"]["valid"], pki["server_ca"])
        try:
            work(t, phone)
        finally:
            phone.close()
    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a writer hung"


def on_disk(shared, rel):
    with open(os.path.join(shared, rel.lstrip("/")), "rb") as f:
        return f.read()


def clear(shared, rel):
    path = os.path.join(shared, rel.lstrip("/"))
    for suffix in ("", ".1", ".2", ".3", ".4"):
        if os.path.lexists(path + suffix):
            os.unlink(path + suffix)


def test_head_on_one_node_put_on_the_other(nodes, shared, pki):
    """The phone's own sequence, its requests spread over both nodes."""
    name = f"/logs/{ME}-app.log"
    clear(shared, name)
    a, b = phones(nodes, pki)
    try:
        lines = [f"line {j:03d} of the phone's log\n".encode() for j in range(20)]
        for j, line in enumerate(lines):
            asks, writes = (a, b) if j % 2 == 0 else (b, a)
            size = asks.head_size(name) or 0
            assert size == sum(len(x) for x in lines[:j])
            status = writes.put(name, line, start=size)[0]
            assert status == (201 if j == 0 else 204)
        assert on_disk(shared, name) == b"".join(lines)
        assert a.head_size(name) == b.head_size(name) == len(b"".join(lines))
    finally:
        a.close()
        b.close()


def test_writers_on_both_nodes_at_once(nodes, shared, pki):
    """Eight writers, four a node, put records into one file (record k at
    offset k*L, retrying while its slot is not reached): every byte is
    where it belongs, none lost, none twice."""
    L, records = 64, 160
    name = f"/logs/{ME}-calls.xml"
    clear(shared, name)

    def record(k):
        return f"<record {k:05d}/>".encode().ljust(L - 1, b" ") + b"\n"

    errors = []
    deadline = time.monotonic() + 240

    def writer(t, phone):
        for k in range(t, records, 8):
            while True:
                status = phone.put(name, record(k), start=k * L)[0]
                if status != 416:
                    if status not in (201, 204):
                        errors.append((t, k, status))
                    break
                if time.monotonic() > deadline:
                    errors.append((t, k, "its slot was never reached"))
                    return
                time.sleep(0.005)

    on_both_nodes(nodes, pki, writer)
    assert not errors, errors
    assert on_disk(shared, name) == b"".join(record(k) for k in range(records))
    assert upload_temporaries(os.path.join(shared, "logs")) == []


def test_a_rotation_both_nodes_race_for_happens_once(nodes, shared, pki):
    """A file one append short of PolyProvUploadMaxSize, and eight appends
    at its end at once, four through each node: the first to take the
    file's lock rotates it, the others find the new file shorter than
    where they start (416). Had the nodes not excluded each other, two
    would have rotated and the old file would be name.2."""
    name = f"/small/{ME}-app.log"
    clear(shared, name)
    old = b"o" * (SMALL_MAX - 100)
    write(os.path.join(shared, name.lstrip("/")), old)
    marks = [node.log_mark() for node in nodes]
    start = threading.Barrier(8)
    results = {}

    def append(t, phone):
        phone.head_size(name)   # connected before the barrier
        start.wait(timeout=30)
        results[t] = phone.put(name, f"append {t} ".encode().ljust(200, b"."), start=len(old))[0]

    on_both_nodes(nodes, pki, append, timeout=120)
    winners = [t for t, status in results.items() if status == 201]
    assert len(results) == 8 and len(winners) == 1, results
    assert sorted(status for t, status in results.items() if t not in winners) == [416] * 7
    assert on_disk(shared, name + ".1") == old
    assert not os.path.exists(os.path.join(shared, name.lstrip("/") + ".2"))
    assert on_disk(shared, name) == f"append {winners[0]} ".encode().ljust(200, b".")
    rotations = sum(len(re.findall(r"PP302 rotated", node.log_since(mark))) for node, mark in zip(nodes, marks))
    assert rotations == 1


def start_upload(node, pki, path, declared, sent):
    """A PUT whose body is still arriving: the open socket."""
    device = pki["devices"]["valid"]
    ctx = ssl.create_default_context(cafile=pki["server_ca"])
    ctx.load_cert_chain(device["cert"], device["key"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", node.port), timeout=30), server_hostname="access.test")
    s.sendall(f"PUT {path} HTTP/1.1\r\nHost: access.test\r\nContent-Length: {declared}\r\n\r\n".encode() + sent)
    return s


def wait_for_new_temporary(directory, known):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = [n for n in upload_temporaries(directory) if n not in known]
        if new:
            assert len(new) == 1, new
            return os.path.join(directory, new[0])
        time.sleep(0.05)
    raise AssertionError("no upload temporary appeared")


@pytest.mark.allow_log(r"AH00052: child pid \d+ exit signal Killed")
def test_one_nodes_sweep_never_removes_the_others_upload_in_flight(nodes, shared, pki):
    """An upload in flight on the prefork node, a child of the event node
    killed in the middle of another; both temporaries made to look an hour
    old (as a node with a clock an hour ahead would see them). A sweep on
    each node removes the dead upload's temporary and keeps the one in
    flight, which then completes."""
    event, prefork = nodes
    directory = os.path.join(shared, "sweep")
    body = bytes(range(256)) * 1200   # 307,200 bytes: spilled to a temporary
    in_flight = start_upload(prefork, pki, f"/sweep/{ME}-app.log", len(body), body[:100000])
    try:
        live = wait_for_new_temporary(directory, [])
        doomed = start_upload(event, pki, f"/sweep/{ME}-boot.log", len(body), body[:100000])
        with doomed:
            dead = wait_for_new_temporary(directory, [os.path.basename(live)])
            child = process_holding(dead)
            assert child, "no process holds the temporary"
            os.kill(child, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while process_holding(dead) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not process_holding(dead), "the killed child's temporary is still held"
        an_hour_ago = time.time() - 3600
        for path in (live, dead):
            os.utime(path, (an_hour_ago, an_hour_ago))

        marks = [node.log_mark() for node in nodes]
        for node in nodes:   # a write to the directory sweeps it (first time in that process)
            phone = Phone(node.port, pki["devices"]["valid"], pki["server_ca"])
            assert phone.put(f"/sweep/{ME}-phone.cfg", b"<override/>\n")[0] in (201, 204)
            phone.close()
        assert not os.path.exists(dead), "the dead upload's temporary stays"
        assert os.path.exists(live), "a sweep removed an upload in flight"
        # The event node swept first, with both temporaries to judge: the
        # other node's upload in flight and its own dead one.
        swept = [node.log_since(mark) for node, mark in zip(nodes, marks)]
        assert len(re.findall(r"PP303 removed 1 stale upload temporary", swept[0])) == 1, swept
        assert "PP303" not in swept[1], swept

        in_flight.sendall(body[100000:])
        reply = b""
        while b"\r\n" not in reply:
            chunk = in_flight.recv(4096)
            assert chunk, f"the connection closed: {reply!r}"
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 201"), reply
    finally:
        in_flight.close()
    assert on_disk(shared, f"/sweep/{ME}-app.log") == body
    assert upload_temporaries(directory) == []
