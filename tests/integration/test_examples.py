"""The example virtual hosts in conf/examples, with their paths pointed at
test files, run in a real apache2: the modern one refuses TLS 1.0, the
legacy one serves it (own files only, expired and pinned phones too)."""

import os
import re
import shutil
import subprocess

import pytest

from harness.apache import Apache, free_port, new_server_root
from harness.clients import curl, s_client_get

SRC = os.environ.get("POLYPROV_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
ME, OTHER = "0004F2000001", "0004F2000002"
LEGACY = "DEFAULT:@SECLEVEL=0"


def pointed_at_test_files(text, pki, port, docs, acl, more=None):
    """An example with its certificates, CA files, list, document root and
    address replaced by the test's; then `more`, in order."""
    for old, new in {"/etc/ssl/certs/prov.example.com-ecdsa.pem": pki["server_ecdsa_cert"],
                     "/etc/ssl/private/prov.example.com-ecdsa.key": pki["server_ecdsa_key"],
                     "/etc/ssl/certs/prov.example.com.pem": pki["server_cert"],
                     "/etc/ssl/private/prov.example.com.key": pki["server_key"],
                     "/etc/polyprov/polycom-ca.pem": pki["ca_bundle"],
                     "/etc/polyprov/polycom-root.pem": pki["anchors"],
                     "/etc/polyprov/phones.acl": acl,
                     "/srv/polycom": docs,
                     "*:443": f"127.0.0.1:{port}", **(more or {})}.items():
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def server(pki):
    apache = Apache(new_server_root())
    root, docs = apache.root, os.path.join(apache.root, "htdocs")
    os.makedirs(os.path.join(docs, "logs"))
    for name in (f"{ME}.cfg", f"{OTHER}.cfg", "0004F2000003.cfg", "0004F200000C.cfg", "000000000000.cfg"):
        with open(os.path.join(docs, name), "w") as f:
            f.write(f"content of {name}\n")
        os.chmod(os.path.join(docs, name), 0o644)
    write_microbrowser_page(docs)
    acl = os.path.join(root, "conf", "phones.acl")
    with open(acl, "w") as f:
        f.write(f"{ME}\n{OTHER}\n0004F2000003\n0004F200000C sha256={pki['devices']['self_signed']['sha256']}\n")
    apache.legacy_port = free_port()
    text = ""
    for example in ("polyprov-tuning.conf", "polyprov-vhost.conf", "polyprov-legacy-vhost.conf"):
        with open(os.path.join(SRC, "conf", "examples", example)) as f:
            text += f.read() + "\n"
    # As an operator with an ECDSA certificate too would have it.
    for line in ("#SSLCertificateFile    /etc/ssl/certs/prov.example.com-ecdsa.pem",
                 "#SSLCertificateKeyFile /etc/ssl/private/prov.example.com-ecdsa.key"):
        assert line in text, line
        text = text.replace(line, line[1:])
    text = pointed_at_test_files(text, pki, apache.port, docs, acl, {
        "prov.example.com": "localhost",
        "Listen 8443": f"Listen 127.0.0.1:{apache.legacy_port}",
        "*:8443": f"127.0.0.1:{apache.legacy_port}"})
    apache.start(f"Define APACHE_LOG_DIR {root}/logs\nDefine APACHE_RUN_DIR {root}/run\n" + text)
    yield apache
    apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(root)


MICROBROWSER = "Mozilla/5.0 (Linux) Microbrowser/2.0 PolycomVVX-VVX_500-UA/5.9.7.4477"


def write_microbrowser_page(docs):
    os.makedirs(os.path.join(docs, "microbrowser"), exist_ok=True)
    os.chmod(os.path.join(docs, "microbrowser"), 0o755)
    page = os.path.join(docs, "microbrowser", "index.xhtml")
    with open(page, "w") as f:
        f.write("<html><body>Welcome</body></html>\n")
    os.chmod(page, 0o644)


def access_log_lines(server):
    with open(os.path.join(server.root, "logs", "polyprov-access.log")) as f:
        return f.read().splitlines()


def legacy_get(server, pki, device, path, tls="tls1"):
    d = pki["devices"][device]
    return s_client_get("localhost", server.legacy_port, path, d["cert"], d["key"], pki["server_ca"],
                        tls=tls, cipher=LEGACY)


def test_modern_vhost(server, pki):
    d = pki["devices"]
    for device, path, status in (("valid", f"/{ME}.cfg", 200), ("expired", "/0004F2000003.cfg", 200),
                                 ("valid", f"/{OTHER}.cfg", 403)):
        r = curl("localhost", server.port, path=path, cert=d[device]["cert"], key=d[device]["key"],
                 cacert=pki["server_ca"])
        assert r.ok and r.status == status, (device, path, r.status, r.error)


def test_modern_vhost_refuses_tls_1_0(server, pki):
    reused, status, headers, out = s_client_get("localhost", server.port, f"/{ME}.cfg", pki["devices"]["valid"]["cert"],
                                                pki["devices"]["valid"]["key"], pki["server_ca"], tls="tls1", cipher=LEGACY)
    assert status == 0, out


@pytest.mark.parametrize("device,path,status", [
    ("valid", f"/{ME}.cfg", 200),
    ("valid", "/000000000000.cfg", 200),
    ("valid", f"/{OTHER}.cfg", 403),
    ("expired", "/0004F2000003.cfg", 200),        # the waiver over TLS 1.0
    ("self_signed", "/0004F200000C.cfg", 200),    # pinned, under optional_no_ca
    ("impostor", "/000000000000.cfg", 403),       # unverified, not pinned
])
def test_legacy_vhost_over_tls_1_0(server, pki, device, path, status):
    reused, got, headers, out = legacy_get(server, pki, device, path)
    assert "Protocol  : TLSv1\n" in out or "Protocol: TLSv1\n" in out or re.search(r"Protocol\s*:\s*TLSv1\s", out), out
    assert got == status, out


def test_legacy_vhost_still_speaks_tls_1_2(server, pki):
    reused, got, headers, out = legacy_get(server, pki, "valid", f"/{ME}.cfg", tls="tls1_2")
    assert got == 200, out


def test_the_revocation_lines_work_when_uncommented(pki, tmp_path):
    """The commented revocation lines of both examples, uncommented and pointed at test files, pass
    configtest (PolyProvRevocationHistory once the module declares it)."""
    from harness import crls
    a = pki["authorities"]
    crl_file = tmp_path / "polycom-crl.pem"
    crl_file.write_bytes(crls.pem(crls.crl(a["root"])) + crls.pem(crls.crl(a["policy"])))
    history = tmp_path / "revocation-history"
    history.write_text("# empty\n")
    with open(os.path.join(SRC, "mod_polyprov", "mod_polyprov.c")) as f:
        declared = '"PolyProvRevocationHistory"' in f.read()
    apache = Apache(new_server_root())
    try:
        for example in ("polyprov-vhost.conf", "polyprov-legacy-vhost.conf"):
            with open(os.path.join(SRC, "conf", "examples", example)) as f:
                text = f.read()
            lines = ["#SSLCARevocationFile /etc/polyprov/polycom-crl.pem", "#SSLCARevocationCheck chain no_crl_for_cert_ok"]
            if declared:
                lines.append("#PolyProvRevocationHistory /etc/polyprov/revocation-history")
            for line in lines:
                assert line in text, (example, line)
                text = text.replace(line, line[1:])
            text = pointed_at_test_files(text, pki, apache.port, str(tmp_path), str(history.parent / "phones.acl"), {
                "/etc/polyprov/polycom-crl.pem": str(crl_file),
                "/etc/polyprov/revocation-history": str(history),
                "Listen 8443": f"Listen 127.0.0.1:{free_port()}",
                "*:8443": f"127.0.0.1:{apache.port}"})
            (tmp_path / "phones.acl").write_text("0004F2000001\n")
            rc, out = apache.configtest(f"Define APACHE_LOG_DIR {apache.root}/logs\n" + text)
            assert rc == 0, (example, out)
    finally:
        shutil.rmtree(apache.root, ignore_errors=True)


@pytest.mark.parametrize("sigalgs,served", [(None, "ECDSA"), ("rsa_pss_rsae_sha256:rsa_pkcs1_sha256", "RSA")])
@pytest.mark.parametrize("tls", ["tls1_2", "tls1_3"])
def test_modern_vhost_serves_ecdsa_to_phones_that_offer_it(server, pki, tls, sigalgs, served):
    d = pki["devices"]["valid"]
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-servername", "localhost",
           "-CAfile", pki["server_ca"], "-cert", d["cert"], "-key", d["key"], f"-{tls}", "-verify_return_error", "-ign_eof"]
    if sigalgs:
        cmd += ["-sigalgs", sigalgs]
    p = subprocess.run(cmd, input=f"GET /{ME}.cfg HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                       capture_output=True, text=True, timeout=30)
    assert re.search(r"^Peer signature type: " + ("ECDSA" if served == "ECDSA" else "RSA"), p.stdout, re.M), p.stdout
    assert "HTTP/1.1 200" in p.stdout, p.stdout


@pytest.mark.allow_log(r"AH02039: Certificate Verification: Error \(20\)")   # the impostor, on purpose
def test_the_microbrowser_section_serves_without_a_certificate(server, pki):
    """The phone's microbrowser sends no client certificate: its section
    serves it; every phone file still needs the phone's certificate."""
    browse = curl("localhost", server.port, path="/microbrowser/index.xhtml", cacert=pki["server_ca"],
                  headers={"User-Agent": MICROBROWSER})
    assert browse.ok and browse.status == 200 and b"Welcome" in browse.body, (browse.status, browse.error)
    for path in (f"/{ME}.cfg", "/000000000000.cfg", "/microbrowser/../000000000000.cfg", "/logs/"):
        r = curl("localhost", server.port, path=path, cacert=pki["server_ca"], headers={"User-Agent": MICROBROWSER})
        assert r.ok and r.status == 403, (path, r.status, r.error)
    lines = access_log_lines(server)
    assert any(re.search(rf'deny:no-cert NONE "GET /{ME}.cfg HTTP/1.1" 403 ', line) for line in lines), lines[-5:]
    # A phone's own file, to the phone (its certificate), as before.
    d = pki["devices"]["valid"]
    mine = curl("localhost", server.port, path=f"/{ME}.cfg", cert=d["cert"], key=d["key"], cacert=pki["server_ca"])
    assert mine.ok and mine.status == 200
    # A certificate that is sent must verify, as under require: an impostor's handshake fails.
    i = pki["devices"]["impostor"]
    impostor = curl("localhost", server.port, path="/microbrowser/index.xhtml", cert=i["cert"], key=i["key"],
                    cacert=pki["server_ca"])
    assert not impostor.ok, impostor.status


def htdigest_line(user, realm, password):
    import hashlib
    return f"{user}:{realm}:{hashlib.md5(f'{user}:{realm}:{password}'.encode()).hexdigest()}\n"


def test_digest_beside_the_certificate(pki):
    """The example's digest lines, put in place as its comment says: a phone
    needs both its certificate and the password; either alone fails; the
    fleet view records what the module decided (a 401 never reaches it)."""
    from harness.fleet import by_mac, fleet_json, plain_status_vhost, wait_for
    apache = Apache(new_server_root())
    docs = os.path.join(apache.root, "htdocs")
    os.makedirs(os.path.join(docs, "logs"))
    for name in (f"{ME}.cfg", f"{OTHER}.cfg", "000000000000.cfg"):
        with open(os.path.join(docs, name), "w") as f:
            f.write(f"content of {name}\n")
        os.chmod(os.path.join(docs, name), 0o644)
    write_microbrowser_page(docs)
    acl = os.path.join(apache.root, "conf", "phones.acl")
    digest = os.path.join(apache.root, "conf", "phones.htdigest")
    for path, text in ((acl, f"{ME}\n{OTHER}\n"), (digest, htdigest_line("PlcmSpIp", "polycom", "s3cret"))):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
    with open(os.path.join(SRC, "conf", "examples", "polyprov-vhost.conf")) as f:
        text = f.read()
    lines = ["#AuthType Digest", '#AuthName "polycom"', "#AuthDigestProvider file",
             "#AuthUserFile /etc/polyprov/phones.htdigest", "#Require valid-user"]
    for line in lines:
        assert line in text, line
        text = text.replace(line, line[1:])
    # "in place of Require all granted": the phones' directory's, the first.
    text = text.replace("        Require all granted\n", "", 1)
    apache.allow_log(r"AH01794: user PlcmSpIp: password mismatch")   # the wrong password, on purpose
    status_port = free_port()
    text = pointed_at_test_files(text, pki, apache.port, docs, acl, {
        "/etc/polyprov/phones.htdigest": digest, "prov.example.com": "localhost"})
    config = (f"Define APACHE_LOG_DIR {apache.root}/logs\n"
              f"PolyProvFleet shmcb:{apache.root}/run/fleet(1048576)\n" + text + plain_status_vhost(status_port))
    apache.start(config, extra_modules=("auth_digest", "authn_core", "authn_file", "authz_user", "authz_host"))
    try:
        d, o = pki["devices"]["valid"], pki["devices"]["valid"]

        def get(path, cert=True, password=None):
            kw = dict(cert=d["cert"], key=d["key"]) if cert else {}
            if password:
                kw["digest"] = ("PlcmSpIp", password)
            r = curl("localhost", apache.port, path=path, cacert=pki["server_ca"], **kw)
            assert r.ok, r.error
            return r.status

        assert get(f"/{ME}.cfg", password="s3cret") == 200              # both: served
        assert get(f"/{OTHER}.cfg", password="s3cret") == 403           # both, another phone's file
        assert get(f"/{ME}.cfg") == 401                                 # the certificate alone
        assert get(f"/{ME}.cfg", password="wrong") == 401               # a wrong password
        assert get(f"/{ME}.cfg", cert=False, password="s3cret") == 403  # the password alone
        assert get("/000000000000.cfg", password="s3cret") == 200        # both, a shared file: the last
        # The microbrowser's section stays open without either.
        assert get("/microbrowser/index.xhtml", cert=False) == 200

        def recorded():
            doc = fleet_json(status_port, host="localhost", scheme="http")
            me = by_mac(doc["devices"]).get(ME)
            return bool(me and me["last_request"]["path"] == "/000000000000.cfg"), me
        me = wait_for("the phone's last request in the fleet view", recorded)
        assert me["last_request"] == {"method": "GET", "path": "/000000000000.cfg", "status": 200,
                                      "decision": "allow"}, me
        # The probe is counted; the 401s came before any decision of the
        # module's, so they are not decisions of the device's.
        assert me["denials"] == {"mac-mismatch": 1}, me
        refused = [line for line in access_log_lines(apache) if '.cfg HTTP/1.1" 401 ' in line]
        assert refused and all(line.split()[3] == "-" for line in refused), refused
        # The password alone: no device, refused by the module.
        assert any(re.search(rf'deny:no-cert NONE "GET /{ME}.cfg HTTP/1.1" 403 ', line)
                   for line in access_log_lines(apache))
    finally:
        apache.stop()
        shutil.rmtree(apache.root, ignore_errors=True)
