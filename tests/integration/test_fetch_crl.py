"""polyprov fetch-crl against real HTTP servers on loopback.

The test PKI's CAs name Poly's CRL distribution points; a proxy that serves
every URL from a local directory stands in for crl.polycom.com, and plain
servers for mirrors. CRLs are signed with the test CAs' keys (harness/crls.py).
What the tool writes is then used by a real apache2 to refuse a revoked phone.
"""

import os
import pathlib
import re
import shutil
import subprocess

import pytest
from cryptography import x509

from harness import crls, vhosts
from harness.apache import Apache, new_server_root
from harness.clients import curl
from harness.file_server import origin_proxy, serve
from harness.pki import POLICY_CRL_URL, ROOT_CRL_URL

CLI = os.environ.get("POLYPROV_CLI", "")
CRL_BLOCK = re.compile(rb"-----BEGIN X509 CRL-----\n.*?-----END X509 CRL-----\n", re.S)
HISTORY_HEADER = b"# polyprov revocation history (PolyProvRevocationHistory): every certificate\n"


def fetch_crl(*args, env_extra=None):
    if not CLI or not os.path.exists(CLI):
        pytest.fail(f"POLYPROV_CLI must name the built tool (got {CLI!r}); run through make check")
    # A proxy from the caller's environment must not stand between the tool and the loopback servers.
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    env.update(env_extra or {})
    p = subprocess.run([CLI, "fetch-crl", *args], capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


def read(path):
    with open(path, "rb") as f:
        return f.read()


def crls_in(path):
    return [x509.load_pem_x509_crl(block) for block in CRL_BLOCK.findall(read(path))]


def issuer_cn(c):
    return c.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def contents(directory):
    return {n: read(os.path.join(directory, n)) for n in sorted(os.listdir(directory))}


def history_lines(path):
    return [line for line in read(path).decode().splitlines() if line and not line.startswith("#")]


def serial_hex(serial):
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


@pytest.fixture
def site(pki, tmp_path):
    """Poly's two CRLs, the root's as DER and the policy CA's as PEM, under site/crl/."""
    a = pki["authorities"]
    directory = crls.publish(tmp_path / "site" / "crl", {
        crls.ROOT_CRL: crls.der(crls.crl(a["root"])),
        crls.POLICY_CRL: crls.pem(crls.crl(a["policy"])),
    })
    return directory


@pytest.fixture
def old_files(tmp_path):
    """An output directory holding a previous run's CRL file and history, which a failed run must leave alone."""
    out = tmp_path / "etc-polyprov"
    out.mkdir()
    (out / "polycom-crl.pem").write_bytes(b"old CRLs\n")
    (out / "revocation-history").write_bytes(HISTORY_HEADER)
    return str(out), contents(out)


def mirror_run(pki, site_dir, out_dir, *extra, **kw):
    """fetch-crl with site_dir's parent served as a mirror of the distribution points."""
    with serve(os.path.dirname(site_dir)) as url:
        return fetch_crl("--ca", pki["ca_bundle"], "--out", os.path.join(out_dir, "polycom-crl.pem"),
                         "--history", os.path.join(out_dir, "revocation-history"), "--from", url + "crl/",
                         *[e.replace("{url}", url) for e in extra], **kw)


def test_fetches_the_distribution_points_of_the_ca_bundle(pki, site, tmp_path):
    out = tmp_path / "out"
    with origin_proxy(os.path.dirname(site)) as (proxy, seen):
        rc, stdout, stderr = fetch_crl("--ca", pki["ca_bundle"], "--out", str(out / "polycom-crl.pem"),
                                       env_extra={"http_proxy": proxy})
    assert rc == 0, stdout + stderr
    # Exactly the URLs Poly's CAs name (OpenSSL adds the default port in the proxy's request line).
    assert [u.replace(":80/", "/") for u in seen] == [ROOT_CRL_URL, POLICY_CRL_URL]
    written = crls_in(out / "polycom-crl.pem")
    assert [issuer_cn(c) for c in written] == ["Polycom Root CA", "Polycom Equipment Policy CA"]
    assert os.stat(out / "polycom-crl.pem").st_mode & 0o777 == 0o644
    lines = stdout.splitlines()
    assert re.fullmatch(rf'crl: +CRL of "CN=Polycom Root CA" \({re.escape(ROOT_CRL_URL)}\): '
                        r"thisUpdate \S+Z, nextUpdate \S+Z, 0 entries \(valid for (29 days 23 hours|30 days)\)",
                        lines[0]), lines[0]
    assert lines[1].startswith('crl:          CRL of "CN=Polycom Equipment Policy CA" (')
    assert lines[2] == f"wrote:        {out}/polycom-crl.pem (SSLCARevocationFile: 2 CRLs)"
    # What the file says about each CRL is what check-crl reads back.
    p = subprocess.run([CLI, "check-crl", str(out / "polycom-crl.pem")], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.count("ok        CRL of ") == 2, p.stdout + p.stderr


def test_mirrors_replacements_and_added_crls_and_the_history(pki, site, tmp_path):
    a = pki["authorities"]
    revoked = crls.new_device(pki, tmp_path / "devices", "0004F2000020")
    crls.publish(site, {crls.ISSUING1_CRL: crls.der(crls.crl(a["issuing1"], [revoked["serial"]]))})
    # A root CRL elsewhere that replaces the distribution point of the same file name.
    crls.publish(os.path.join(os.path.dirname(site), "other"), {crls.ROOT_CRL: crls.pem(crls.crl(a["root"], [77]))})
    out = str(tmp_path / "out")
    rc, stdout, stderr = mirror_run(pki, site, out, "--from", "{url}other/Polycom Root CA.crl",
                                    "--from", "{url}crl/" + crls.ISSUING1_CRL)
    assert rc == 0, stdout + stderr
    written = crls_in(os.path.join(out, "polycom-crl.pem"))
    assert [(issuer_cn(c), len(c)) for c in written] == [("Polycom Root CA", 1), ("Polycom Equipment Policy CA", 0),
                                                         ("Polycom Equipment Issuing CA 1", 1)]
    assert "/other/Polycom%20Root%20CA.crl)" in stdout  # the space encoded for the request line
    assert f"history:      {out}/revocation-history: 2 certificates, 2 new, 0 updated" in stdout
    lines = history_lines(os.path.join(out, "revocation-history"))
    assert len(lines) == 2
    assert any(f" {serial_hex(revoked['serial'])} " in line and line.endswith("CN=Polycom Equipment Issuing CA 1")
               for line in lines), lines
    assert any(" 4D " in line and line.endswith("CN=Polycom Root CA") for line in lines), lines
    assert read(os.path.join(out, "revocation-history")).startswith(HISTORY_HEADER)


def test_an_unchanged_set_is_not_rewritten(pki, site, tmp_path):
    out = tmp_path / "out"
    args = ["--ca", pki["ca_bundle"], "--out", str(out / "polycom-crl.pem"), "--history", str(out / "revocation-history")]
    with serve(os.path.dirname(site)) as url:
        assert fetch_crl(*args, "--from", url + "crl/")[0] == 0
        before = {n: os.stat(out / n) for n in os.listdir(out)}
        rc, stdout, stderr = fetch_crl(*args, "--from", url + "crl/")
    assert rc == 0, stderr
    assert f"unchanged:    {out}/polycom-crl.pem (SSLCARevocationFile: 2 CRLs)" in stdout
    assert f"unchanged:    {out}/revocation-history: 0 certificates, 0 new, 0 updated" in stdout
    after = {n: os.stat(out / n) for n in os.listdir(out)}
    assert {n: (s.st_ino, s.st_mtime_ns) for n, s in before.items()} == \
        {n: (s.st_ino, s.st_mtime_ns) for n, s in after.items()}


def bad_site(pki, site, case):
    a = pki["authorities"]
    if case == "wrong key":
        files = {crls.POLICY_CRL: crls.der(crls.crl(a["fake_policy"]))}
    elif case == "another issuer":
        files = {crls.POLICY_CRL: crls.der(crls.crl(a["root"]))}
    elif case == "expired":
        files = {crls.ROOT_CRL: crls.der(crls.crl(a["root"], this_update=-30 * crls.DAY, next_update=-crls.HOUR))}
    elif case == "too close":
        files = {crls.ROOT_CRL: crls.der(crls.crl(a["root"], next_update=12 * crls.HOUR))}
    elif case == "from the future":
        files = {crls.ROOT_CRL: crls.der(crls.crl(a["root"], this_update=crls.HOUR))}
    elif case == "error page":
        files = {crls.POLICY_CRL: b"<html><body>Our CRLs moved</body></html>\n"}
    elif case == "a certificate":
        files = {crls.POLICY_CRL: read(pki["der"]["policy"])}
    elif case == "missing":
        os.remove(os.path.join(site, crls.POLICY_CRL.replace("%20", " ")))
        files = {}
    crls.publish(site, files)


@pytest.mark.parametrize("case,rc,says", [
    ("wrong key", 1, r'Policy%20CA\.crl: the signature of this CRL of "CN=Polycom Equipment Policy '
                     r'CA" does not verify with the key of that CA in \S+/polycom-ca\.pem \(another key signed it\)'),
    ("another issuer", 1, r'Policy%20CA\.crl: is the CRL of "CN=Polycom Root CA", not of '
                          r'"CN=Polycom Equipment Policy CA" as the certificates that name this URL'),
    ("expired", 1, r"Root%20CA\.crl: expired 1 hour( \d+ seconds?)? ago \(nextUpdate \S+\): mod_ssl would refuse "
                   r"every phone this CRL covers"),
    ("too close", 1, r"Root%20CA\.crl: nextUpdate \S+ is only (11|12) hours? .*away, less than the 1 day required"),
    ("from the future", 1, r"Root%20CA\.crl: thisUpdate \S+ is in the future \(is this machine's clock behind\?\)"),
    ("error page", 1, r"Policy%20CA\.crl: is neither a DER nor a PEM CRL \(the server sent something else: an error"),
    ("a certificate", 1, r"Policy%20CA\.crl: is not a valid DER CRL$"),
    ("missing", 2, r"Policy%20CA\.crl: download failed: received error \(code=404"),
])
def test_refusals_leave_existing_files_byte_identical(pki, site, old_files, case, rc, says):
    out, before = old_files
    bad_site(pki, site, case)
    got_rc, stdout, stderr = mirror_run(pki, site, out)
    assert got_rc == rc, stdout + stderr
    assert re.search(says, stderr, re.M), stderr
    assert stderr.endswith("\nnothing written\n") and stderr.count("\n") == 2, stderr
    assert contents(out) == before


def test_min_valid_decides_how_close_is_too_close(pki, site, tmp_path):
    bad_site(pki, site, "too close")
    assert mirror_run(pki, site, str(tmp_path / "a"))[0] == 1
    rc, stdout, stderr = mirror_run(pki, site, str(tmp_path / "b"), "--min-valid", "6h")
    assert rc == 0, stderr
    assert re.search(r"Root CA\" .* \(expires in (11|12) hours", stdout), stdout


def test_a_crl_older_than_the_installed_one_is_refused(pki, site, tmp_path):
    out = str(tmp_path / "out")
    assert mirror_run(pki, site, out)[0] == 0
    installed = contents(out)
    a = pki["authorities"]
    crls.publish(site, {crls.ROOT_CRL: crls.der(crls.crl(a["root"], this_update=-5 * crls.DAY))})
    rc, _, stderr = mirror_run(pki, site, out)
    assert rc == 1, stderr
    assert re.search(r'Root%20CA\.crl: this CRL of "CN=Polycom Root CA" \(thisUpdate \S+\) is older '
                     rf"than the one in {re.escape(out)}/polycom-crl\.pem \(thisUpdate \S+\): an old CRL served "
                     r"again would hide newer revocations", stderr), stderr
    assert contents(out) == installed


def test_redirects_are_followed(pki, site, tmp_path):
    names = (crls.ROOT_CRL, crls.POLICY_CRL)
    with serve(os.path.dirname(site)) as new_url:
        absolute = {f"/old/{n}": f"{new_url}crl/{n}" for n in names}
        with serve(tmp_path, redirects=absolute) as old_url:
            rc, stdout, stderr = fetch_crl("--ca", pki["ca_bundle"], "--out", str(tmp_path / "a.pem"),
                                           "--from", old_url + "old/")
        assert rc == 0, stderr
        assert f"({old_url}old/{crls.ROOT_CRL})" in stdout  # named by the URL asked for
        relative = {f"/old/{n}": f"/crl/{n}" for n in names}
    with serve(os.path.dirname(site), redirects=relative) as url:
        rc, _, stderr = fetch_crl("--ca", pki["ca_bundle"], "--out", str(tmp_path / "b.pem"), "--from", url + "old/")
    assert rc == 0, stderr
    assert [issuer_cn(c) for c in crls_in(tmp_path / "b.pem")] == ["Polycom Root CA", "Polycom Equipment Policy CA"]


def test_a_history_that_does_not_parse_is_not_overwritten(pki, site, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "revocation-history").write_bytes(HISTORY_HEADER + b"\nnot an entry\n")
    before = contents(out)
    rc, _, stderr = mirror_run(pki, site, str(out))
    assert rc == 2
    assert f"{out}/revocation-history:3: expected ISSUER-SHA256 SERIAL REVOKED REASON FIRST-SEEN, found 3 fields" \
        in stderr and stderr.endswith("nothing written\n"), stderr
    assert contents(out) == before


def test_the_history_is_written_before_the_crls(pki, site, tmp_path):
    """In another directory, the history is replaced first: a CRL write that fails leaves it ahead, never behind."""
    a = pki["authorities"]
    crls.publish(site, {crls.ROOT_CRL: crls.der(crls.crl(a["root"], [42]))})
    history_dir, crl_dir = tmp_path / "history", tmp_path / "crl"
    crl_dir.mkdir()
    (crl_dir / "polycom-crl.pem").write_bytes(b"old CRLs\n")
    target = crl_dir / "polycom-crl.pem"
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable attribute (chattr +i)")
    try:
        with serve(os.path.dirname(site)) as url:
            rc, _, stderr = fetch_crl("--ca", pki["ca_bundle"], "--out", str(target), "--from", url + "crl/",
                                      "--history", str(history_dir / "revocation-history"))
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert rc == 2, stderr
    assert f"{target}: cannot be kept while it is replaced" in stderr
    assert f"({history_dir}/revocation-history was updated)" in stderr
    assert read(target) == b"old CRLs\n"
    assert [line.split()[1] for line in history_lines(history_dir / "revocation-history")] == ["2A"]


def test_a_bundle_without_distribution_points_needs_from(pki, tmp_path):
    rc, _, stderr = fetch_crl("--ca", pki["anchors"], "--out", str(tmp_path / "crl.pem"))
    assert rc == 2
    assert "polycom-root.pem: no certificate in it names an http(s) CRL distribution point; name the CRLs with " \
           "--from URL" in stderr
    assert not os.path.exists(tmp_path / "crl.pem")


@pytest.mark.parametrize("args,says", [
    ([], "usage: polyprov fetch-crl --ca FILE --out FILE"),
    (["--ca", "ca.pem"], "usage: polyprov fetch-crl"),
    (["--ca", "ca.pem", "--out", "x", "extra"], "usage: polyprov fetch-crl"),
    (["--ca", "ca.pem", "--out", "x", "--bogus", "1"], "unknown option --bogus"),
    (["--ca", "ca.pem", "--out", "x", "--min-valid", "a day"], "--min-valid takes a duration"),
    (["--ca", "ca.pem", "--out", "x", "--timeout", "0"], "--timeout takes whole seconds"),
    (["--ca", "ca.pem", "--out", "x", "--history", "./x"], "--out and --history name the same file"),
    (["--ca", "missing.pem", "--out", "x"], "missing.pem: cannot be read"),
])
def test_usage_errors(tmp_path, args, says):
    os.chdir(tmp_path)
    (tmp_path / "ca.pem").write_text("")
    rc, _, stderr = fetch_crl(*args)
    assert rc == 2 and says in stderr, stderr
    assert not os.path.exists(tmp_path / "x")


# ------------------------------------------------------------ a real apache2

def phone(server, device):
    return curl("localhost", server.port, path="/index.html", cert=device["cert"], key=device["key"],
                cacert=server.server_ca, tls_max="1.2")


@pytest.fixture
def revocation_server(pki, tmp_path):
    """An apache2 whose vhost checks revocation against what fetch-crl wrote, under the waiver."""
    apache = Apache(new_server_root())
    # Under the server root: the history is followed by a process of the
    # server's User, which cannot enter pytest's private temporary tree.
    out = os.path.join(apache.root, "etc-polyprov")
    os.mkdir(out, 0o755)
    out = pathlib.Path(out)
    apache.server_ca = pki["server_ca"]
    apache.crl_file = str(out / "polycom-crl.pem")
    apache.history = str(out / "revocation-history")
    with open(os.path.join(apache.root, "htdocs", "index.html"), "w") as f:
        f.write("provisioned\n")
    os.chmod(os.path.join(apache.root, "htdocs", "index.html"), 0o644)
    apache.vhost = vhosts.tls_vhost(apache.port, "localhost", pki, waiver="leaf", ca_file=pki["ca_bundle"], extra=(
        f"    SSLCARevocationFile {apache.crl_file}\n"
        "    SSLCARevocationCheck chain no_crl_for_cert_ok\n"))
    yield apache
    apache.stop()
    shutil.rmtree(apache.root, ignore_errors=True)


def test_the_written_file_makes_a_real_apache_refuse_revoked_phones(pki, site, tmp_path, revocation_server):
    a, d = pki["authorities"], pki["devices"]
    revoked = crls.new_device(pki, tmp_path / "devices", "0004F2000021")
    crls.publish(site, {crls.ISSUING1_CRL: crls.der(crls.crl(a["issuing1"], [
        revoked["serial"], crls.serial_of(d["revoked_expired"]["leaf_only"])]))})
    rc, _, stderr = mirror_run(pki, site, os.path.dirname(revocation_server.crl_file),
                               "--from", "{url}crl/" + crls.ISSUING1_CRL)
    assert rc == 0, stderr
    revocation_server.start(revocation_server.vhost)
    for device, expired in (("valid", "0"), ("valid_ca2", "0"), ("expired", "1")):
        r = phone(revocation_server, d[device])
        assert (r.status, r.headers.get("x-verify"), r.headers.get("x-cert-expired"), r.body) == \
            (200, "SUCCESS", expired, b"provisioned\n"), (device, r.error)
    for device in (revoked, d["revoked_expired"]):
        r = phone(revocation_server, device)
        assert not r.ok and r.alert == "certificate revoked", (device["mac"], r.error)
    assert revocation_server.read_error_log().count("Error (23): certificate revoked") == 2


@pytest.mark.parametrize("with_history", [True, False])
def test_a_dropped_entry_stays_in_the_history(pki, site, tmp_path, revocation_server, with_history):
    """The CA revokes the expired phone, then drops it from a newer CRL (RFC 5280 allows that once the
    certificate has expired). The history keeps it, and with PolyProvRevocationHistory the phone stays
    refused. Without it, mod_ssl has only the CRL, so the waiver lets the phone in again (README)."""
    older, newer = crls.revoked_then_dropped(pki)
    device = pki["devices"]["revoked_expired"]
    serial = serial_hex(crls.serial_of(device["leaf_only"]))
    out = os.path.dirname(revocation_server.crl_file)

    crls.publish(site, {crls.ISSUING1_CRL: crls.der(older)})
    rc, stdout, stderr = mirror_run(pki, site, out, "--from", "{url}crl/" + crls.ISSUING1_CRL)
    assert rc == 0, stderr
    assert f"history:      {revocation_server.history}: 1 certificate, 1 new, 0 updated" in stdout
    first = history_lines(revocation_server.history)
    assert len(first) == 1 and first[0].split()[1:4] == [serial, first[0].split()[2], "keyCompromise"], first
    vhost = revocation_server.vhost
    if with_history:
        vhost = vhost.replace("</VirtualHost>", f"    PolyProvRevocationHistory {revocation_server.history}\n</VirtualHost>")
    revocation_server.start(vhost)
    r = phone(revocation_server, device)
    assert not r.ok and r.alert == "certificate revoked", r.error

    crls.publish(site, {crls.ISSUING1_CRL: crls.der(newer)})
    rc, stdout, stderr = mirror_run(pki, site, out, "--from", "{url}crl/" + crls.ISSUING1_CRL)
    assert rc == 0, stderr
    assert [(issuer_cn(c), len(c)) for c in crls_in(revocation_server.crl_file)][2] == \
        ("Polycom Equipment Issuing CA 1", 0)
    assert f"unchanged:    {revocation_server.history}: 1 certificate, 0 new, 0 updated" in stdout
    assert history_lines(revocation_server.history) == first  # first-seen kept too

    mark = revocation_server.log_mark()
    revocation_server.graceful()
    r = phone(revocation_server, device)
    if with_history:
        # Refused as stock mod_ssl refuses an expired certificate, and said why.
        assert not r.ok, r.status
        assert re.search(r"PP106 expiry not waived: \"0004F2000007\" \(expired .*\) is in the revocation history",
                         revocation_server.log_since(mark))
        for other, expired in (("valid", "0"), ("expired", "1")):
            r = phone(revocation_server, pki["devices"][other])
            assert (r.status, r.headers.get("x-cert-expired")) == (200, expired), (other, r.error)
    else:
        assert (r.status, r.headers.get("x-verify"), r.headers.get("x-cert-expired")) == (200, "SUCCESS", "1"), r.error


def test_the_history_is_read_and_written_under_one_lock(pki, site, tmp_path):
    """A run that waits for the directory's lock reads the history only once it holds it, so an entry
    another run added meanwhile survives."""
    import fcntl
    import time
    out = tmp_path / "out"
    out.mkdir()
    (out / "revocation-history").write_bytes(HISTORY_HEADER)
    other = "A" * 64 + " 0B 2024-03-01T12:00:00Z superseded 2024-03-02T00:00:00Z added by another run\n"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    with serve(os.path.dirname(site)) as url:
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            run = subprocess.Popen([CLI, "fetch-crl", "--ca", pki["ca_bundle"], "--out", str(out / "polycom-crl.pem"),
                                    "--history", str(out / "revocation-history"), "--from", url + "crl/"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            time.sleep(3)  # long enough to have downloaded and checked, and to be waiting
            assert run.poll() is None, run.communicate()
            (out / "revocation-history").write_bytes(HISTORY_HEADER + other.encode())
        finally:
            os.close(fd)  # releases the lock
        stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert history_lines(out / "revocation-history") == [other.rstrip("\n")]
    assert os.path.exists(out / "polycom-crl.pem")


class _RawServer:
    """One canned HTTP answer per connection, then optionally a pause before closing."""

    def __init__(self, answer, hold=0.0):
        import socket
        import threading
        self.answer, self.hold = answer, hold
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import time
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(self.answer)
                deadline = time.monotonic() + self.hold
                while time.monotonic() < deadline and not self.stop.is_set():
                    time.sleep(0.05)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("case,answer,hold,rc,says", [
    ("cut off", b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"\x30\x82\x03\xe4" + b"x" * 96, 0, 2,
     r"download failed: the body ended after 100 of 1000 bytes"),
    ("stalls", b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n\x30\x82", 6, 2,
     r"download failed: timeout reading the body \(limit 2 s\)"),
    ("announces too much", b"HTTP/1.0 200 OK\r\nContent-Length: 17000000\r\n\r\n\x30", 0, 1,
     r"is larger than 16777216 bytes, refused"),
    ("sends too much", b"HTTP/1.0 200 OK\r\n\r\n" + b"\x30" * 16777217, 0, 1, r"is larger than 16777216 bytes, refused$"),
], ids=["cut off", "stalls", "announces too much", "sends too much"])
def test_broken_transfers(pki, old_files, case, answer, hold, rc, says):
    out, before = old_files
    server = _RawServer(answer, hold)
    try:
        got_rc, _, stderr = fetch_crl("--ca", pki["anchors"], "--out", os.path.join(out, "polycom-crl.pem"),
                                      "--from", f"http://127.0.0.1:{server.port}/root.crl", "--timeout", "2")
    finally:
        server.close()
    assert got_rc == rc, stderr
    assert re.search(says, stderr, re.M), stderr
    assert contents(out) == before


def test_over_https(pki, site, tmp_path):
    """The streamed body over TLS, verified against the CAs the system trusts (here the test server's CA)."""
    with serve(os.path.dirname(site), cert=pki["server_cert"], key=pki["server_key"]) as url:
        localhost = url.replace("127.0.0.1", "localhost")
        rc, stdout, stderr = fetch_crl("--ca", pki["ca_bundle"], "--out", str(tmp_path / "a.pem"),
                                       "--from", localhost + "crl/", env_extra={"SSL_CERT_FILE": pki["server_ca"]})
        assert rc == 0, stderr
        assert [issuer_cn(c) for c in crls_in(tmp_path / "a.pem")] == ["Polycom Root CA", "Polycom Equipment Policy CA"]
        rc, _, stderr = fetch_crl("--ca", pki["ca_bundle"], "--out", str(tmp_path / "b.pem"),
                                  "--from", localhost + "crl/", env_extra={"SSL_CERT_FILE": pki["other_root"],
                                                                           "SSL_CERT_DIR": str(tmp_path)})
    assert rc == 2 and "(server certificate: unable to get local issuer certificate)" in stderr, stderr
    assert not os.path.exists(tmp_path / "b.pem")
