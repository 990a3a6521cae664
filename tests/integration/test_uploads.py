"""Log and override uploads (PolyProvUpload) against a real apache2: the
phone's own sequence, every malformed header, other phones' files,
traversal and special files, a client that hangs up, a full disk, rotation,
LimitRequestBody, and many writers at once. After every refusal the file
must be byte for byte what it was."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from harness.apache import Apache, new_server_root
from harness.files import on_disk, process_holding, upload_temporaries
from harness.phone import Phone, put_and_hang_up
from harness.vhosts import tls_vhost

ME, OTHER = "0004F2000001", "0004F2000002"
LOG = f"/logs/{ME}-app.log"


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


@pytest.fixture(scope="module", params=["event", "prefork"])
def server(request, pki):
    apache = Apache(new_server_root(), mpm=request.param)
    docs = os.path.join(apache.root, "htdocs")
    for d in ("logs", "small", "limited", "noauth", "full", "sweep"):
        os.makedirs(os.path.join(docs, d))
        shutil.chown(os.path.join(docs, d), "www-data", "www-data") if os.geteuid() == 0 else None
    acl = os.path.join(apache.root, "conf", "phones.acl")
    write(acl, f"{ME}\n{OTHER}\n")
    # A small file system of its own, to fill up: honest ENOSPC.
    apache.tmpfs = None
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs",
                                             os.path.join(docs, "full")]).returncode == 0:
        apache.tmpfs = os.path.join(docs, "full")
        shutil.chown(apache.tmpfs, "www-data", "www-data")
    config = f"""
    <Directory {docs}>
        PolyProvRequireDevice on
        PolyProvACLFile {acl}
    </Directory>
    <Directory {docs}/logs>
        PolyProvUpload on
        PolyProvUploadMaxSize 256K
    </Directory>
    <Directory {docs}/small>
        PolyProvUpload on
        PolyProvUploadMaxSize 1K
        PolyProvUploadKeep 2
    </Directory>
    <Directory {docs}/limited>
        PolyProvUpload on
        LimitRequestBody 2000
    </Directory>
    <Directory {docs}/noauth>
        PolyProvRequireDevice off
        PolyProvUpload on
    </Directory>
    <Directory {docs}/full>
        PolyProvUpload on
        PolyProvUploadMaxSize 1M
    </Directory>
    <Directory {docs}/sweep>
        PolyProvUpload on
    </Directory>
"""
    apache.docs = docs
    try:
        apache.start(config + tls_vhost(apache.port, "access.test", pki, verify="require"))
        yield apache
    finally:
        apache.stop()
        if apache.tmpfs:
            subprocess.run(["umount", apache.tmpfs])
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(apache.root)


@pytest.fixture
def phone(server, pki):
    p = Phone(server.port, pki["devices"]["valid"], pki["server_ca"])
    yield p
    p.close()


def temp_files(server, rel_dir):
    return upload_temporaries(os.path.join(server.docs, rel_dir))


def reset(server, rel, data):
    path = os.path.join(server.docs, rel.lstrip("/"))
    for suffix in ("", ".1", ".2", ".3"):
        if os.path.lexists(path + suffix) and not os.path.isdir(path + suffix):
            os.unlink(path + suffix)
    if data is not None:
        write(path, data)
        if os.geteuid() == 0:
            shutil.chown(path, "www-data", "www-data")


# -- the phone's own sequence ----------------------------------------------

def test_phone_sequence(server, phone):
    reset(server, LOG, None)
    assert phone.head_size(LOG) is None                    # HEAD 404: nothing yet
    first = b"boot 1\n" * 50
    status, headers, _ = phone.put(LOG, first)             # PUT whole
    assert status == 201 and headers.get("location") == LOG
    expected = first
    for i in range(5):
        size = phone.head_size(LOG)
        assert size == len(expected)
        more = f"line {i} ".encode() * 20 + b"\n"
        status, _, _ = phone.put(LOG, more, start=size, total="*" if i % 2 else size + len(more))
        assert status == 204
        expected += more
    status, _, body = phone.request("GET", LOG)
    assert status == 200 and body == expected == on_disk(server, LOG)
    assert not temp_files(server, "logs")


def test_put_without_range_replaces_atomically(server, phone):
    path = f"/logs/{ME}-phone.cfg"
    reset(server, path, "old override")
    assert phone.put(path, b"<new override/>")[0] == 204
    assert on_disk(server, path) == b"<new override/>"


def test_rewriting_the_tail(server, phone):
    reset(server, LOG, "0123456789")
    assert phone.put(LOG, b"6789AB", start=6)[0] == 204     # a resend that overlaps the end
    assert on_disk(server, LOG) == b"0123456789AB"


# -- malformed requests: 400, the file untouched ------------------------------

@pytest.mark.parametrize("header", [
    "bytes 5-3/10", "bytes 0-4", "bytes -0-4/10", "bytes +0-4/10", "bytes 0 -4/10", "bytes  0-4/10",
    "bits 0-4/10", "bytes 0-4/4", "bytes */10", "bytes 0-4/10, 5-9/10", "bytes 0x0-4/10",
    "bytes 99999999999999999999-99999999999999999999/*",
])
def test_malformed_content_range(server, phone, header):
    reset(server, LOG, "kept")
    status, _, _ = phone.request("PUT", LOG, body=b"12345", headers={"Content-Range": header})
    assert status == 400
    assert on_disk(server, LOG) == b"kept"


def test_body_length_must_match_the_range(server, phone):
    reset(server, LOG, "0123")
    assert phone.request("PUT", LOG, body=b"abc", headers={"Content-Range": "bytes 4-13/*"})[0] == 400
    # chunked: the length is only known at the end
    def chunks():
        yield b"ab"
        yield b"c"
    assert phone.request("PUT", LOG, body=chunks(), headers={"Content-Range": "bytes 4-13/*"}, chunked=True)[0] == 400
    assert on_disk(server, LOG) == b"0123"


def test_start_beyond_the_end_is_416(server, phone):
    reset(server, LOG, "0123")
    status, headers, _ = phone.put(LOG, b"x", start=5)
    assert status == 416 and headers.get("content-range") == "bytes */4"
    assert on_disk(server, LOG) == b"0123"
    reset(server, LOG, None)
    status, headers, _ = phone.put(LOG, b"x", start=3)
    assert status == 416 and headers.get("content-range") == "bytes */0"
    assert not os.path.exists(os.path.join(server.docs, LOG.lstrip("/")))


# -- whose files, which files ---------------------------------------------------

def test_another_phones_file(server, phone):
    reset(server, f"/logs/{OTHER}-app.log", "theirs")
    status, headers, _ = phone.put(f"/logs/{OTHER}-app.log", b"mine")
    assert status == 403 and headers.get("x-decision") == "deny:mac-mismatch"
    assert on_disk(server, f"/logs/{OTHER}-app.log") == b"theirs"


@pytest.mark.parametrize("name", ["000000000000-app.log", "app.log", "sip.cfg", f".{ME}-app.log",
                                  f"{ME}.php", f"{ME}.html", f"{ME}.shtml", f"{ME}-app.log.cgi", f"{ME}-app"])
def test_shared_files_are_not_writable(server, phone, name):
    status, headers, _ = phone.put(f"/logs/{name}", b"x")
    assert status == 403 and headers.get("x-decision") == "deny:not-writable"
    assert not os.path.exists(os.path.join(server.docs, "logs", name))


def test_refusal_is_logged_with_mac_path_range_and_reason(server, phone):
    # A name the device may not write: refused by the access check, once.
    mark = server.log_mark()
    phone.put("/logs/app.log", b"x", start=0)
    lines = [l for l in server.log_since(mark).splitlines() if re.search(r"PP(201|301)", l)]
    assert len(lines) == 1, lines
    assert f"PP201 denied PUT: MAC {ME}, path /logs/app.log: not-writable" in lines[0]
    # A range the store refuses: by the upload handler, once, with the range.
    reset(server, f"/logs/{ME}-app.log", "0123")
    mark = server.log_mark()
    assert phone.put(f"/logs/{ME}-app.log", b"x", start=9)[0] == 416
    lines = [l for l in server.log_since(mark).splitlines() if re.search(r"PP(201|301)", l)]
    assert len(lines) == 1, lines
    assert f"upload refused (416 beyond-end): MAC {ME}, path /logs/{ME}-app.log, range bytes 9-9/*" in lines[0]


def test_uploads_need_an_authenticated_device(server, phone):
    assert phone.put(f"/noauth/{ME}-app.log", b"x")[0] == 403
    assert not os.listdir(os.path.join(server.docs, "noauth"))


def test_traversal_and_missing_directories(server, phone):
    reset(server, f"/{ME}.cfg", "config")
    for path in (f"/logs/../{ME}.cfg", f"/logs/%2e%2e/{ME}.cfg"):
        assert phone.put(path, b"overwritten")[0] in (403, 405)
    assert on_disk(server, f"/{ME}.cfg") == b"config"
    assert phone.put(f"/logs/new/{ME}-app.log", b"x")[0] == 403
    assert not os.path.exists(os.path.join(server.docs, "logs", "new"))


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo"])
def test_special_files_are_refused_and_left_alone(server, phone, kind):
    target = os.path.join(server.docs, "logs", f"{ME}-boot.log")
    outside = os.path.join(server.root, "outside.txt")
    write(outside, "outside")
    if kind == "symlink":
        os.symlink(outside, target)
    elif kind == "directory":
        os.mkdir(target)
    else:
        os.mkfifo(target)
    try:
        for start in (None, 0):
            assert phone.put(f"/logs/{ME}-boot.log", b"evil", start=start)[0] == 403
        with open(outside, "rb") as f:
            assert f.read() == b"outside"
        assert {"symlink": os.path.islink, "directory": os.path.isdir, "fifo": os.path.exists}[kind](target)
    finally:
        (os.rmdir if kind == "directory" else os.unlink)(target)
    assert not temp_files(server, "logs")


# -- failures leave the file as it was --------------------------------------------

def test_client_hangs_up_mid_body(server, pki):
    reset(server, LOG, "before")
    put_and_hang_up(server.port, pki["devices"]["valid"], pki["server_ca"], LOG, declared=10000, sent=b"x" * 300)
    time.sleep(1.0)
    assert on_disk(server, LOG) == b"before"
    assert not temp_files(server, "logs")


@pytest.mark.allow_log(r"PP301 upload refused \(507 disk-full\)")
def test_disk_full_is_507_and_loses_nothing(server, phone):
    if server.tmpfs is None:
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")
    path = f"/full/{ME}-app.log"
    original = b"a" * 150_000
    reset(server, path, original)
    status, _, _ = phone.put(path, b"b" * 150_000, start=len(original))   # append: no room
    assert status == 507
    assert on_disk(server, path) == original
    status, _, _ = phone.put(path, b"c" * 150_000)                         # replace: no room
    assert status == 507
    assert on_disk(server, path) == original
    assert not temp_files(server, "full")
    # The body fits while staged, but writing it into the file runs out of
    # room halfway: the written part must be taken back.
    original = b"e" * 120_000   # staged: 195 KiB of 256 fits; written in place: 273 KiB does not
    reset(server, path, original)
    status, _, _ = phone.put(path, b"f" * 80_000, start=len(original))
    assert status == 507
    assert on_disk(server, path) == original
    assert not temp_files(server, "full")
    assert phone.put(path, b"d" * 1000, start=len(original))[0] == 204     # room for a little
    assert on_disk(server, path) == original + b"d" * 1000


def test_rotation_bounds_disk_use(server, phone):
    path = f"/small/{ME}-app.log"
    reset(server, path, None)
    assert phone.put(path, b"A" * 1000)[0] == 201
    assert phone.put(path, b"B" * 100, start=1000)[0] == 201              # past 1K: rotated
    assert on_disk(server, path) == b"B" * 100 and on_disk(server, path + ".1") == b"A" * 1000
    for fill in (b"C", b"D", b"E"):
        size = phone.head_size(path)
        assert phone.put(path, fill * 1000, start=size)[0] == 201
    assert on_disk(server, path) == b"E" * 1000
    assert on_disk(server, path + ".1") == b"D" * 1000 and on_disk(server, path + ".2") == b"C" * 1000
    assert not os.path.exists(os.path.join(server.docs, "small", f"{ME}-app.log.3"))
    assert phone.put(path, b"F" * 1025, start=1000)[0] == 413             # one body over the limit
    assert on_disk(server, path) == b"E" * 1000


def test_limit_request_body(server, phone):
    path = f"/limited/{ME}-app.log"
    assert phone.put(path, b"x" * 3000)[0] == 413
    assert not os.path.exists(os.path.join(server.docs, "limited", f"{ME}-app.log"))


# -- many writers at once --------------------------------------------------------

def test_concurrent_writers(server, pki):
    """Eight phones' worth of connections: four write records into one shared
    file (record k at offset k*L, retrying while its slot is not reached:
    every write races the others for the lock), four append to files of
    their own the way phones do (HEAD, then PUT at the size). Afterwards
    every byte is where it belongs."""
    L, records = 64, 120
    shared = f"/logs/{ME}-calls.xml"
    reset(server, shared, None)
    own = [f"/logs/{ME}-app{i}.log" for i in range(4)]
    for p in own:
        reset(server, p, None)

    def record(k):
        return f"record {k:05d} ".encode().ljust(L - 1, b".") + b"\n"

    errors = []

    def slot_writer(t):
        phone = Phone(server.port, pki["devices"]["valid"], pki["server_ca"])
        try:
            for k in range(t, records, 4):
                while True:
                    status = phone.put(shared, record(k), start=k * L)[0]
                    if status != 416:
                        if status not in (201, 204):
                            errors.append((k, status))
                        break
                    time.sleep(0.005)
        finally:
            phone.close()

    def own_writer(i):
        phone = Phone(server.port, pki["devices"]["valid"], pki["server_ca"])
        try:
            for j in range(30):
                size = phone.head_size(own[i]) or 0
                status = phone.put(own[i], f"file {i} line {j:03d}\n".encode(), start=size)[0]
                if status not in (201, 204):
                    errors.append((own[i], j, status))
        finally:
            phone.close()

    threads = [threading.Thread(target=slot_writer, args=(t,)) for t in range(4)]
    threads += [threading.Thread(target=own_writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert on_disk(server, shared) == b"".join(record(k) for k in range(records))
    for i, p in enumerate(own):
        assert on_disk(server, p) == b"".join(f"file {i} line {j:03d}\n".encode() for j in range(30))
    assert not temp_files(server, "logs")


@pytest.mark.allow_log(r"AH00052: child pid \d+ exit signal Killed")
def test_a_child_killed_mid_upload_leaves_a_temporary_that_is_swept(server, pki):
    # A body larger than what is staged in memory spills into a temporary;
    # the child is killed while it receives the rest.
    device = pki["devices"]["valid"]
    ctx = ssl.create_default_context(cafile=pki["server_ca"])
    ctx.load_cert_chain(device["cert"], device["key"])
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10),
                         server_hostname="access.test") as s:
        s.sendall(f"PUT /sweep/{ME}-app.log HTTP/1.1\r\nHost: access.test\r\nContent-Length: 300000\r\n\r\n".encode()
                  + b"x" * 100000)
        deadline = time.monotonic() + 10
        while not temp_files(server, "sweep") and time.monotonic() < deadline:
            time.sleep(0.05)
        temps = temp_files(server, "sweep")
        assert len(temps) == 1, temps
        temp = os.path.join(server.docs, "sweep", temps[0])
        child = process_holding(temp)
        assert child, "no process holds the temporary"
        os.kill(child, signal.SIGKILL)
    time.sleep(0.5)
    assert os.path.exists(temp), "the temporary of a killed child stays behind"
    # Left alone for longer than any upload in progress would be:
    old = time.time() - 3600
    os.utime(temp, (old, old))
    mark = server.log_mark()
    phone = Phone(server.port, device, pki["server_ca"])
    assert phone.put(f"/sweep/{ME}-boot.log", b"next boot\n")[0] == 201
    phone.close()
    assert not os.path.exists(temp), "swept when the directory was next written"
    assert re.search(r"PP303 removed 1 stale upload temporary in .*/sweep", server.log_since(mark))
