"""polyprov fetch-ca against a real HTTP(S) server on loopback.

Poly's own four CAs (tests/fixtures/poly-pki) and the test PKI's are
published the way Poly publishes them: one DER file per CA under the names
Poly uses. Poly's root is taken without being named; the test PKI's, shaped
like Poly's but with its own keys, only when --root-sha256 names it. What
the tool writes is then used by a real apache2 and by check-cert.
"""

import datetime
import hashlib
import os
import re
import shutil
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import vhosts
from harness.apache import Apache, new_server_root
from harness.clients import curl
from harness.file_server import proxy, serve

CLI = os.environ.get("POLYPROV_CLI", "")
SRC = os.environ.get("POLYPROV_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
POLY_PKI = os.path.join(SRC, "tests", "fixtures", "poly-pki")
# Poly's CAs as the repository keeps them, by role.
POLY_FILES = {
    "root": "polycom-root-ca.pem",
    "policy": "polycom-equipment-policy-ca.pem",
    "issuing1": "polycom-equipment-issuing-ca-1.pem",
    "issuing2": "polycom-equipment-issuing-ca-2.pem",
}
POLY_ROOT_SHA256 = "5A9A1F57090208B9ACDA4F239510153977AEA210897915014D431EFF06601EBE"
POLY_NAMES = {
    "root": "Polycom Root CA.crt",
    "policy": "Polycom Equipment Policy CA.crt",
    "issuing1": "Polycom Equipment Issuing CA 1.crt",
    "issuing2": "Polycom Equipment Issuing CA 2.crt",
}
PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", re.S)


def fetch_ca(*args, env_extra=None):
    if not CLI or not os.path.exists(CLI):
        pytest.fail(f"POLYPROV_CLI must name the built tool (got {CLI!r}); run through make check")
    # A proxy from the caller's environment must not stand between the tool
    # and the loopback server.
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    env.update(env_extra or {})
    p = subprocess.run([CLI, "fetch-ca", *args], capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


def publish(pki, directory, **swap):
    """Poly's four CA files in `directory`; swap={"issuing1": path-or-bytes} replaces one."""
    os.makedirs(directory, exist_ok=True)
    for role, name in POLY_NAMES.items():
        source = swap.get(role, pki["der"][role])
        target = os.path.join(directory, name)
        if isinstance(source, bytes):
            with open(target, "wb") as f:
                f.write(source)
        elif source is not None:
            shutil.copyfile(source, target)
    return directory


def poly_cert(role):
    with open(os.path.join(POLY_PKI, POLY_FILES[role]), "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def poly_der(role):
    return poly_cert(role).public_bytes(serialization.Encoding.DER)


def pinned(pki):
    """The option that makes fetch-ca take the test PKI's root instead of Poly's."""
    return ["--root-sha256", sha256_of(pki["der"]["root"])]


def der_to_pem(path):
    body = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", path], capture_output=True, check=True)
    return body.stdout


def blocks(path):
    with open(path, "rb") as f:
        return PEM_BLOCK.findall(f.read())


def sha256_of(der_path):
    with open(der_path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest().upper()


def sly_root_der():
    """A self-signed CA whose CN tries to print a fake fingerprint and hide the real one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Polycom Root CA\n  sha256 00:11\x1b[8m")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def contents(out_dir):
    """Every file in out_dir, name -> bytes."""
    out = {}
    for n in os.listdir(out_dir):
        with open(os.path.join(out_dir, n), "rb") as f:
            out[n] = f.read()
    return out


def untouched(out_dir, before):
    return contents(out_dir) == before


@pytest.fixture
def old_files(tmp_path):
    """An output directory holding a previous run's files, which a failed run must leave alone."""
    out = tmp_path / "etc-polyprov"
    out.mkdir()
    before = {"polycom-root.pem": b"old root\n", "polycom-ca.pem": b"old bundle\n"}
    for n, data in before.items():
        (out / n).write_bytes(data)
    return str(out), before


def test_fetches_checks_and_writes_what_the_vhost_needs(pki, tmp_path):
    site = publish(pki, tmp_path / "pki")
    out = str(tmp_path / "etc-polyprov")  # not there yet: created
    with serve(site) as url:
        rc, stdout, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", out)
    assert rc == 0, stdout + stderr
    assert sorted(os.listdir(out)) == ["polycom-ca.pem", "polycom-root.pem"]
    for name in ("polycom-root.pem", "polycom-ca.pem"):
        assert os.stat(os.path.join(out, name)).st_mode & 0o777 == 0o644
    # The anchor file is the root alone; the bundle the root then the three intermediates, in Poly's order.
    assert blocks(os.path.join(out, "polycom-root.pem")) == [der_to_pem(pki["der"]["root"])]
    assert blocks(os.path.join(out, "polycom-ca.pem")) == [
        der_to_pem(pki["der"][r]) for r in ("root", "policy", "issuing1", "issuing2")]
    assert f"sha256 {sha256_of(pki['der']['root'])}: matches the one --root-sha256 named\n" in stdout
    assert stdout.count(", chains to the root") == 3
    assert "EXPIRED" not in stdout


def test_written_files_serve_phones_in_a_real_apache(pki, tmp_path):
    site = publish(pki, tmp_path / "pki")
    out = str(tmp_path / "etc-polyprov")
    with serve(site) as url:
        assert fetch_ca(*pinned(pki), "--from", url, "--out", out)[0] == 0
    os.chmod(tmp_path, 0o755)
    os.chmod(out, 0o755)
    apache = Apache(new_server_root())
    try:
        with open(os.path.join(apache.root, "htdocs", "index.html"), "w") as f:
            f.write("provisioned\n")
        apache.start(vhosts.tls_vhost(apache.port, "localhost", pki, waiver="leaf",
                                      ca_file=os.path.join(out, "polycom-ca.pem"),
                                      anchors=os.path.join(out, "polycom-root.pem")))
        d = pki["devices"]
        for device, verify, expired in (("valid", "SUCCESS", "0"), ("valid_ca2", "SUCCESS", "0"),
                                        ("expired", "SUCCESS", "1")):
            r = curl("localhost", apache.port, path="/index.html", cert=d[device]["cert"], key=d[device]["key"],
                     cacert=pki["server_ca"])
            assert (r.status, r.headers.get("x-verify"), r.headers.get("x-cert-expired")) == (200, verify, expired)
            assert r.body == b"provisioned\n"
        r = curl("localhost", apache.port, cert=d["impostor_expired"]["cert"], key=d["impostor_expired"]["key"],
                 cacert=pki["server_ca"])
        assert not r.ok
    finally:
        apache.stop()
        shutil.rmtree(apache.root, ignore_errors=True)


def test_written_files_agree_with_check_cert(pki, tmp_path):
    site = publish(pki, tmp_path / "pki")
    out = str(tmp_path / "out")
    with serve(site) as url:
        assert fetch_ca(*pinned(pki), "--from", url, "--out", out)[0] == 0
    p = subprocess.run([CLI, "check-cert", pki["devices"]["expired"]["cert"], "--anchors",
                        os.path.join(out, "polycom-root.pem"), "--ca", os.path.join(out, "polycom-ca.pem")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "expiry of the certificate waived" in p.stdout, p.stdout + p.stderr


def test_root_fingerprint_pin(pki, tmp_path, old_files):
    site = publish(pki, tmp_path / "pki")
    out, before = old_files
    good = sha256_of(pki["der"]["root"])
    with serve(site) as url:
        rc, stdout, stderr = fetch_ca("--from", url, "--out", out, "--root-sha256", good.lower())
        assert rc == 0, stderr
        assert f"sha256 {good}: matches the one --root-sha256 named" in stdout
        colon = ":".join(good[i:i + 2] for i in range(0, 64, 2))
        assert fetch_ca("--from", url, "--out", out, "--root-sha256", colon)[0] == 0
        written = contents(out)
        assert blocks(os.path.join(out, "polycom-root.pem")) == [der_to_pem(pki["der"]["root"])]
        wrong = sha256_of(pki["der"]["other_root"])
        rc, _, stderr = fetch_ca("--from", url, "--out", out, "--root-sha256", wrong)
    assert rc == 1
    assert f"the root's sha256 is {good}, not the expected {wrong} (the one --root-sha256 named)\n" in stderr
    assert stderr.endswith("\nnothing written\n")
    assert untouched(out, written)


# The names fetch-ca must ask for, as Poly's own certificates spell them in
# their AIA caIssuers URLs (the issuing CAs' own names by analogy).
POLY_PATHS = ["Polycom%20Root%20CA.crt", "Polycom%20Equipment%20Policy%20CA.crt",
              "Polycom%20Equipment%20Issuing%20CA%201.crt", "Polycom%20Equipment%20Issuing%20CA%202.crt"]


def publish_poly(pki, directory, **swap):
    """Poly's own four CAs, as pki.polycom.com serves them; swap as for publish()."""
    return publish(pki, directory, **{**{role: poly_der(role) for role in POLY_NAMES}, **swap})


def ca_issuers_url(cert):
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return [d.access_location.value for d in aia][0]


def test_polys_own_cas_are_taken_without_naming_the_root(pki, tmp_path):
    site = publish_poly(pki, tmp_path / "pki")
    out = str(tmp_path / "etc-polyprov")
    with proxy() as (proxy_url, seen), serve(site) as url:
        rc, stdout, stderr = fetch_ca("--from", url, "--out", out, env_extra={"http_proxy": proxy_url})
    assert rc == 0, stdout + stderr
    assert seen == [f"GET {url}{path}" for path in POLY_PATHS]
    assert ca_issuers_url(poly_cert("policy")) == "http://pki.polycom.com/pki/" + POLY_PATHS[0]
    assert ca_issuers_url(poly_cert("issuing1")) == "http://pki.polycom.com/pki/" + POLY_PATHS[1]
    assert stdout.startswith('root:         "Polycom Root CA", not after 2044-03-09T18:12:40Z\n'
                             f'              sha256 {POLY_ROOT_SHA256}: matches Poly\'s published "Polycom Root CA"\n')
    assert stdout.count("not after 2039-03-09T19:02:13Z, chains to the root") == 3
    assert "EXPIRED" not in stdout and "note" not in stdout and stderr == ""
    pem = {role: poly_cert(role).public_bytes(serialization.Encoding.PEM) for role in POLY_FILES}
    assert blocks(os.path.join(out, "polycom-root.pem")) == [pem["root"]]
    assert blocks(os.path.join(out, "polycom-ca.pem")) == [pem[r] for r in ("root", "policy", "issuing1", "issuing2")]

    # What it wrote is what a vhost names.
    os.chmod(tmp_path, 0o755)
    os.chmod(out, 0o755)
    apache = Apache(new_server_root())
    try:
        rc, said = apache.configtest(vhosts.tls_vhost(apache.port, "localhost", pki, waiver="leaf",
                                                      ca_file=os.path.join(out, "polycom-ca.pem"),
                                                      anchors=os.path.join(out, "polycom-root.pem")))
    finally:
        shutil.rmtree(apache.root, ignore_errors=True)
    assert rc == 0 and "Syntax OK" in said, said

    def check_cert(cert):
        p = subprocess.run([CLI, "check-cert", cert, "--anchors", os.path.join(out, "polycom-root.pem"),
                            "--ca", os.path.join(out, "polycom-ca.pem")], capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    # No real phone certificate is at hand: Poly's Issuing CA 1 stands in for
    # the top of a phone's chain, and verifies up to Poly's root.
    rc, stdout, stderr = check_cert(os.path.join(POLY_PKI, POLY_FILES["issuing1"]))
    assert "chain:        verifies: SSL_CLIENT_VERIFY=SUCCESS\n" in stdout, stdout + stderr
    assert rc == 1 and "decision:     deny:cn-no-mac" in stdout  # a CA names no MAC
    # A phone of the test PKI carries CAs of Poly's names and shape, with other
    # keys: its chain stops where it would reach Poly's root.
    rc, stdout, stderr = check_cert(pki["devices"]["valid"]["cert"])
    assert rc == 1, stdout + stderr
    assert ('chain:        does not verify: unable to get local issuer certificate (depth 2); no trusted '
            'certificate "CN=Polycom Root CA" signed "CN=Polycom Equipment Policy CA"\n') in stdout, stdout


@pytest.mark.parametrize("case,ours,says", [
    ("the test PKI: a root of Poly's name and shape, another key", ("root", "policy", "issuing1", "issuing2"),
     rf"Root%20CA\.crt: the root's sha256 is (?!{POLY_ROOT_SHA256})[0-9A-F]{{64}}, not the expected {POLY_ROOT_SHA256} "
     r"\(Poly's published \"Polycom Root CA\"; another root needs --root-sha256\)$"),
    ("Poly's intermediates under a root of the same name, another key", ("root",),
     r'Policy%20CA\.crt: "Polycom Equipment Policy CA" does not chain to the root "Polycom Root CA": '),
    ("Poly's root over another PKI's intermediates", ("policy", "issuing1", "issuing2"),
     r'Policy%20CA\.crt: "Polycom Equipment Policy CA" does not chain to the root "Polycom Root CA": '),
], ids=["test-pki", "other-root", "other-intermediates"])
def test_another_root_is_refused_unless_named(pki, tmp_path, old_files, case, ours, says):
    """ours: the CAs taken from the test PKI, the others being Poly's."""
    site = publish_poly(pki, tmp_path / "pki", **{role: pki["der"][role] for role in ours})
    out, before = old_files
    with serve(site) as url:
        rc, stdout, stderr = fetch_ca("--from", url, "--out", out)
    assert rc == 1, stdout + stderr
    assert re.search(says, stderr, re.M), stderr
    assert stderr.endswith("\nnothing written\n") and stderr.count("\n") == 2
    assert ": matches" not in stdout and "wrote:" not in stdout
    assert untouched(out, before)


def test_naming_another_root_refuses_polys(pki, tmp_path, old_files):
    site = publish_poly(pki, tmp_path / "pki")
    out, before = old_files
    with serve(site) as url:
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", out)
    assert rc == 1
    assert (f"the root's sha256 is {POLY_ROOT_SHA256}, not the expected {sha256_of(pki['der']['root'])} "
            "(the one --root-sha256 named)\nnothing written\n") in stderr, stderr
    assert untouched(out, before)


def test_the_test_pki_is_shaped_like_polys(pki):
    """Names and extensions byte for byte as in Poly's CAs, the keys and what
    derives from them (key identifiers) aside."""
    def shape(cert):
        return [(e.oid.dotted_string, e.critical,
                 None if e.oid.dotted_string in ("2.5.29.14", "2.5.29.35") else e.value.public_bytes())
                for e in cert.extensions]

    ours = {role: x509.load_der_x509_certificate(open(pki["der"][role], "rb").read()) for role in POLY_FILES}
    for role, cert in ours.items():
        real = poly_cert(role)
        assert cert.subject.public_bytes() == real.subject.public_bytes(), role
        assert cert.issuer.public_bytes() == real.issuer.public_bytes(), role
        assert shape(cert) == shape(real), role
        assert (cert.public_key().key_size, cert.signature_hash_algorithm.name) == (4096, "sha256"), role
    ski = {role: c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
           for role, c in ours.items()}
    for role, parent in (("policy", "root"), ("issuing1", "policy"), ("issuing2", "policy")):
        aki = ours[role].extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert (aki.key_identifier, aki.authority_cert_issuer) == (ski[parent], None), role


@pytest.mark.parametrize("case,swap,rc,says", [
    ("missing file", {"issuing2": None}, 2,
     r"Polycom%20Equipment%20Issuing%20CA%202\.crt: download failed: received error \(code=404"),
    ("error page", {"root": b"<html><body>Moved to our new site</body></html>\n"}, 1,
     r"Polycom%20Root%20CA\.crt: is not a DER certificate \(the server sent something else: an error page\? PEM\?\)"),
    ("DER, not a certificate", {"policy": b"\x30\x03\x02\x01\x01"}, 1,
     r"Policy%20CA\.crt: is not a DER certificate$"),
    ("bytes after the certificate", {"policy": "policy+junk"}, 1,
     r"Policy%20CA\.crt: is not a DER certificate \(.*inconsistent content length"),
    ("the policy CA under an issuing CA's name", {"issuing2": "policy"}, 1,
     r'Issuing%20CA%202\.crt: holds "Polycom Equipment Policy CA", not "Polycom Equipment Issuing CA 2"'),
    ("a name that rewrites the terminal", {"root": "sly_root"}, 1,
     r'Root%20CA\.crt: holds "Polycom Root CA\\x0A  sha256 00:11\\x1B\[8m", not "Polycom Root CA"'),
    ("empty", {"issuing1": b""}, 2, r"Issuing%20CA%201\.crt: download failed: "),
    ("impostor issuing CA", {"issuing1": "fake_issuing"}, 1,
     r'Issuing%20CA%201\.crt: "Polycom Equipment Issuing CA 1" does not chain to the root "Polycom Root CA": '),
    ("impostor root (same name, other key)", {"root": "fake_root"}, 1,
     r'Policy%20CA\.crt: "Polycom Equipment Policy CA" does not chain to the root "Polycom Root CA": '),
    ("another vendor's root as policy CA", {"policy": "other_root"}, 1,
     r'Policy%20CA\.crt: holds "Other Vendor Root CA", not "Polycom Equipment Policy CA"'),
    ("the policy CA as root", {"root": "policy"}, 1,
     r'Root%20CA\.crt: holds "Polycom Equipment Policy CA", not "Polycom Root CA"'),
    ("a phone certificate as a CA", {"issuing2": "device"}, 1,
     r'Issuing%20CA%202\.crt: holds "0004F2000001", not "Polycom Equipment Issuing CA 2"'),
])
def test_refusals_leave_existing_files_alone(pki, tmp_path, old_files, case, swap, rc, says):
    extra = {"policy+junk": open(pki["der"]["policy"], "rb").read() + b"xyz", "sly_root": sly_root_der()}
    swap = {role: extra.get(v) or pki["der"][v] if isinstance(v, str) else v for role, v in swap.items()}
    site = publish(pki, tmp_path / "pki", **swap)
    out, before = old_files
    with serve(site) as url:
        got_rc, stdout, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", out)
    assert got_rc == rc, stdout + stderr
    assert re.search(says, stderr, re.M), stderr
    assert stderr.rstrip().endswith("nothing written")
    assert "\x1b" not in stderr and stderr.count("\n") == 2  # the message and "nothing written"
    assert untouched(out, before)


def test_an_expired_issuing_ca_is_accepted_and_reported(pki, tmp_path):
    site = publish(pki, tmp_path / "pki", issuing2=pki["der"]["issuing2_expired"])
    with serve(site) as url:
        rc, stdout, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", str(tmp_path / "out"))
    assert rc == 0, stderr
    assert re.search(r'"Polycom Equipment Issuing CA 2", not after \S+ \(EXPIRED: phones under it need '
                     r"PolyProvAcceptExpired chain\), chains to the root", stdout), stdout


def test_a_pem_file_is_refused_as_not_der(pki, tmp_path):
    site = publish(pki, tmp_path / "pki", policy=der_to_pem(pki["der"]["policy"]))
    with serve(site) as url:
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", url.rstrip("/"), "--out", str(tmp_path / "out"))  # "/" added
    assert rc == 1 and "Policy%20CA.crt: is not a DER certificate" in stderr, stderr


def test_redirects_are_followed(pki, tmp_path):
    site = publish(pki, tmp_path / "pki" / "new")
    with serve(site) as new_url:
        # Absolute Locations, as Apache's Redirect sends them, to another server.
        redirects = {f"/old/{n.replace(' ', '%20')}": new_url + n.replace(" ", "%20") for n in POLY_NAMES.values()}
        with serve(tmp_path, redirects=redirects) as old_url:
            rc, stdout, stderr = fetch_ca(*pinned(pki), "--from", old_url + "old/", "--out", str(tmp_path / "out"))
    assert rc == 0, stderr
    assert stdout.count(", chains to the root") == 3


def test_relative_redirects_and_https_upgrades_through_a_proxy(pki, tmp_path):
    site = publish(pki, tmp_path / "pki" / "new")
    relative = {f"/old/{n.replace(' ', '%20')}": f"/new/{n.replace(' ', '%20')}" for n in POLY_NAMES.values()}
    with serve(tmp_path / "pki", redirects=relative) as url:
        rc, stdout, stderr = fetch_ca(*pinned(pki), "--from", url + "old/", "--out", str(tmp_path / "a"))
    assert rc == 0 and stdout.count(", chains to the root") == 3, stderr
    # http -> https, the way sites move, with both hops through https_proxy/http_proxy.
    trust = {"SSL_CERT_FILE": pki["server_ca"]}
    with serve(site, cert=pki["server_cert"], key=pki["server_key"]) as https_url, proxy() as (proxy_url, seen):
        https_url = https_url.replace("127.0.0.1", "localhost")
        upgrade = {f"/{n.replace(' ', '%20')}": https_url + n.replace(" ", "%20") for n in POLY_NAMES.values()}
        with serve(tmp_path, redirects=upgrade) as http_url:
            rc, stdout, stderr = fetch_ca(*pinned(pki), "--from", http_url, "--out", str(tmp_path / "b"),
                                          env_extra={"http_proxy": proxy_url, "https_proxy": proxy_url, **trust})
        assert rc == 0, stderr
        https_port = https_url.rsplit(":", 1)[1].rstrip("/")
        assert [r.split(" ")[0] for r in seen] == ["GET", "CONNECT"] * 4
        assert seen[1] == f"CONNECT localhost:{https_port}"
    for n in ("polycom-root.pem", "polycom-ca.pem"):
        assert open(tmp_path / "a" / n, "rb").read() == open(tmp_path / "b" / n, "rb").read()


def test_https_never_redirects_to_http(pki, tmp_path):
    site = publish(pki, tmp_path / "pki")
    with serve(site) as http_url:
        down = {f"/{n.replace(' ', '%20')}": http_url + n.replace(" ", "%20") for n in POLY_NAMES.values()}
        with serve(tmp_path, cert=pki["server_cert"], key=pki["server_key"], redirects=down) as https_url:
            rc, _, stderr = fetch_ca(*pinned(pki), "--from", https_url.replace("127.0.0.1", "localhost"), "--out",
                                     str(tmp_path / "out"), env_extra={"SSL_CERT_FILE": pki["server_ca"]})
    assert rc == 2 and f"redirects from https to {http_url}Polycom%20Root%20CA.crt, refused" in stderr, stderr
    assert not os.path.exists(tmp_path / "out")


def test_a_failed_replacement_leaves_the_old_files(pki, tmp_path, old_files):
    site = publish(pki, tmp_path / "pki")
    out, before = old_files
    target = os.path.join(out, "polycom-ca.pem")
    if subprocess.run(["chattr", "+i", target], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable attribute (chattr +i)")
    try:
        with serve(site) as url:
            rc, _, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", out)
    finally:
        subprocess.run(["chattr", "-i", target], check=True)
    assert rc == 2, stderr
    assert f"{target}: cannot be kept while it is replaced: Operation not permitted; no file was replaced" in stderr
    assert untouched(out, before)
    assert sorted(os.listdir(out)) == ["polycom-ca.pem", "polycom-root.pem"], "temporary files left behind"


def test_https_is_verified(pki, tmp_path):
    site = publish(pki, tmp_path / "pki")
    out = str(tmp_path / "out")
    trust = {"SSL_CERT_FILE": pki["server_ca"]}
    with serve(site, cert=pki["server_cert"], key=pki["server_key"]) as url:
        localhost = url.replace("127.0.0.1", "localhost")
        rc, stdout, stderr = fetch_ca(*pinned(pki), "--from", localhost, "--out", out, env_extra=trust)
        assert rc == 0 and ": matches the one --root-sha256 named" in stdout, stderr
        assert fetch_ca(*pinned(pki), "--from", url, "--out", out, env_extra=trust)[0] == 0  # IP address SAN
        # The system's CAs do not know the test server's CA.
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", localhost, "--out", out,
                                 env_extra={"SSL_CERT_FILE": pki["other_root"], "SSL_CERT_DIR": str(tmp_path)})
        assert rc == 2 and "(server certificate: unable to get local issuer certificate)" in stderr, stderr
    # A trusted certificate for another name is refused.
    with serve(site, host="127.0.0.2", cert=pki["server_cert"], key=pki["server_key"]) as url:
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", out, env_extra=trust)
    assert rc == 2 and "(server certificate: IP address mismatch)" in stderr, stderr


def test_proxies_from_the_environment(pki, tmp_path):
    site = publish(pki, tmp_path / "pki")
    trust = {"SSL_CERT_FILE": pki["server_ca"]}
    with proxy() as (proxy_url, seen), serve(site) as url:
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", str(tmp_path / "a"),
                                 env_extra={"http_proxy": proxy_url})
        assert rc == 0, stderr
        assert seen == [f"GET {url}{n.replace(' ', '%20')}" for n in POLY_NAMES.values()]
        seen.clear()
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", str(tmp_path / "b"),
                                 env_extra={"http_proxy": proxy_url, "no_proxy": "127.0.0.1"})
        assert rc == 0 and seen == [], stderr
    with proxy() as (proxy_url, seen), serve(site, cert=pki["server_cert"], key=pki["server_key"]) as url:
        localhost = url.replace("127.0.0.1", "localhost")
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", localhost, "--out", str(tmp_path / "c"),
                                 env_extra={"https_proxy": proxy_url, **trust})
        assert rc == 0, stderr
        assert seen == [f"CONNECT localhost:{url.rsplit(':', 1)[1].rstrip('/')}"] * 4
    # Same bytes either way.
    for d in ("b", "c"):
        for n in ("polycom-root.pem", "polycom-ca.pem"):
            assert open(tmp_path / "a" / n, "rb").read() == open(tmp_path / d / n, "rb").read()


def test_unreachable_server_fails_within_the_timeout(tmp_path, old_files):
    out, before = old_files
    with serve(tmp_path) as url:
        port = url.rsplit(":", 1)[1].rstrip("/")
    # Nothing listens there now.
    started = time.monotonic()
    rc, _, stderr = fetch_ca("--from", f"http://127.0.0.1:{port}/", "--out", out, "--timeout", "2")
    assert rc == 2 and "download failed" in stderr and "(limit 2 s)" in stderr, stderr
    assert time.monotonic() - started < 20
    assert untouched(out, before)


def test_output_problems(pki, tmp_path):
    site = publish(pki, tmp_path / "pki")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    os.symlink("/etc/hostname", link_dir / "polycom-ca.pem")
    with serve(site) as url:
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", str(not_a_dir))
        assert rc == 2 and f"{not_a_dir}: cannot be used: Not a directory" in stderr, stderr
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", str(tmp_path / "no" / "such"))
        assert rc == 2 and "cannot be created: No such file or directory" in stderr, stderr
        rc, _, stderr = fetch_ca(*pinned(pki), "--from", url, "--out", str(link_dir))
        assert rc == 2 and "polycom-ca.pem: is not a regular file; no file was replaced" in stderr, stderr
    assert os.listdir(link_dir) == ["polycom-ca.pem"] and os.path.islink(link_dir / "polycom-ca.pem")


@pytest.mark.parametrize("args,says", [
    ([], "usage: polyprov fetch-ca --out DIR"),
    (["--out"], "--out needs a value"),
    (["--out", "x", "extra"], "usage: polyprov fetch-ca"),
    (["--out", "x", "--bogus", "1"], "unknown option --bogus"),
    (["--out", "x", "--root-sha256", "ABCD"], "--root-sha256 takes 64 hex digits"),
    (["--out", "x", "--timeout", "0"], "--timeout takes whole seconds"),
    (["--out", "x", "--from", "ftp://127.0.0.1/"], "not an http:// or https:// URL"),
])
def test_usage_errors(tmp_path, args, says):
    os.chdir(tmp_path)
    rc, _, stderr = fetch_ca(*args)
    assert rc == 2 and says in stderr, stderr
    assert not os.path.exists(tmp_path / "x")
