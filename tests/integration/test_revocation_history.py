"""PolyProvRevocationHistory in a running server (issue 11): a certificate
the history lists never has its expiry waived; the file is followed without
a restart by every process together, like the ACL; a broken file fails
configtest with file:line, and at run time keeps the last good version."""

import hashlib
import os
import re
import shutil
import subprocess
import time

import pytest
from cryptography import x509

from harness.apache import HTTPD, Apache, new_server_root
from harness.clients import curl
from harness.files import replace_by_rename as replace
from harness.vhosts import tls_vhost

HEADER = "# polyprov revocation history (PolyProvRevocationHistory)\n"


def entry(cert_path):
    """The history line that lists the certificate in `cert_path` (its first PEM block)."""
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    issuer = hashlib.sha256(cert.issuer.public_bytes()).hexdigest().upper()
    serial = f"{cert.serial_number:X}"
    serial = serial if len(serial) % 2 == 0 else "0" + serial
    return f"{issuer} {serial} 2024-03-01T12:00:00Z keyCompromise 2024-03-02T00:00:00Z test entry\n"


@pytest.fixture(scope="module", params=["event", "prefork"])
def server(request, pki):
    apache = Apache(new_server_root(), mpm=request.param)
    with open(os.path.join(apache.root, "htdocs", "index.html"), "w") as f:
        f.write("provisioned\n")
    os.chmod(os.path.join(apache.root, "htdocs", "index.html"), 0o644)
    apache.history = os.path.join(apache.root, "conf", "revocation-history")
    replace(apache.history, HEADER)
    apache.allow_log(r"PP203 .*revocation-history:2: ")   # the broken version this test writes
    history = f"    PolyProvRevocationHistory {apache.history}\n"
    apache.start(tls_vhost(apache.port, "localhost", pki, waiver="leaf", extra=history) +
                 tls_vhost(apache.port, "hist-none.test", pki, waiver="leaf") +
                 tls_vhost(apache.port, "hist-p.test", pki, waiver="leaf", extra=history))
    yield apache
    apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(apache.root, ignore_errors=True)


def get(server, pki, device):
    # TLS 1.2: a refused client certificate then always ends in the alert
    # that names the reason (under 1.3 curl may only see the connection go).
    d = pki["devices"][device]
    return curl("localhost", server.port, path="/index.html", cert=d["cert"], key=d["key"], cacert=pki["server_ca"],
                tls_max="1.2")


def wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_the_history_is_followed_without_a_restart(server, pki):
    assert get(server, pki, "expired").status == 200, "not listed yet: waived"
    replace(server.history, HEADER + entry(pki["devices"]["expired"]["cert"]))
    mark = server.log_mark()
    assert wait_for(lambda: not get(server, pki, "expired").ok), "the listed certificate is still waived"
    # Every new connection, whichever process takes it, is refused as stock
    # mod_ssl refuses an expired certificate, and the log says why.
    for _ in range(8):
        r = get(server, pki, "expired")
        assert not r.ok, r.status
    log = server.log_since(mark)
    assert "Certificate Verification: Error (10): certificate has expired" in log
    assert re.search(r'PP106 expiry not waived: "0004F2000003" \(expired [^)]*\) is in the revocation history', log)
    # Others are untouched: a valid phone (a listed valid one is mod_ssl's CRL's business), another expired one.
    assert get(server, pki, "valid").status == 200
    assert get(server, pki, "revoked_expired").status == 200

    # A broken version: reported once, every process keeps the last good one.
    mark = server.log_mark()
    replace(server.history, HEADER + "nonsense\n")
    time.sleep(2.0)
    for _ in range(6):
        assert not get(server, pki, "expired").ok
    lines = [l for l in server.log_since(mark).splitlines() if "PP203" in l]
    assert len(lines) == 1 and "revocation-history:2: " in lines[0], lines

    # Unlisted again (an operator's fix): waived again.
    replace(server.history, HEADER)
    assert wait_for(lambda: get(server, pki, "expired").status == 200)


def test_a_broken_history_fails_configtest_with_file_and_line(server, pki, tmp_path):
    bad = str(tmp_path / "history")
    with open(bad, "w") as f:
        f.write(HEADER + "ZZ 01 2024-03-01T12:00:00Z keyCompromise 2024-03-02T00:00:00Z\n")
    os.chmod(tmp_path, 0o755)
    conf = os.path.join(server.root, "conf", "broken.conf")
    with open(server.conf) as f:
        original = f.read()
    with open(conf, "w") as f:
        f.write(original.replace(server.history, bad))
    p = subprocess.run([HTTPD, "-t", "-f", conf], capture_output=True, text=True, timeout=60, env=server.env)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert re.search(rf"PolyProvRevocationHistory: {re.escape(bad)}:2: ", out), out
    missing = original.replace(server.history, str(tmp_path / "none"))
    with open(conf, "w") as f:
        f.write(missing)
    p = subprocess.run([HTTPD, "-t", "-f", conf], capture_output=True, text=True, timeout=60, env=server.env)
    assert p.returncode != 0 and "cannot be read" in p.stdout + p.stderr


def test_a_host_with_a_history_refuses_what_another_host_waived(server, pki):
    # The handshake's host waives the expiry (it has no history); the
    # request's host would not have: 421, and the phone's next handshake
    # there fails.
    d = pki["devices"]["expired"]

    def via(sni, host):
        return curl(sni, server.port, path="/index.html", cert=d["cert"], key=d["key"], cacert=pki["server_ca"],
                    headers={"Host": host})

    assert via("hist-none.test", "hist-p.test").status == 200, "not listed: served"
    replace(server.history, HEADER + entry(d["cert"]))
    assert wait_for(lambda: via("hist-none.test", "hist-p.test").status == 421)
    assert via("hist-none.test", "hist-none.test").status == 200, "the host without a history still waives it"
    assert not via("hist-p.test", "hist-p.test").ok, "and its own handshake refuses it"
    replace(server.history, HEADER)
    assert wait_for(lambda: via("hist-none.test", "hist-p.test").status == 200)
