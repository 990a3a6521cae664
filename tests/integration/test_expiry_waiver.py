"""PolyProvAcceptExpired against a real apache2 and real clients.

Every device certificate is sent to name-based vhosts on one port that
differ only in SSLVerifyClient and the waiver (none = stock mod_ssl, leaf,
chain). The waiver must turn exactly the expected failures into SUCCESS and
leave every other outcome, alert included, as stock mod_ssl has it."""

import os
import re
import shutil

import pytest

from conftest import MODES, WAIVERS
from harness import pki as pki_mod
from harness.apache import Apache, have_module, new_server_root
from harness.clients import curl, s_client_get
from harness.vhosts import tls_vhost

# device -> the waiver modes that accept it (stock mod_ssl accepts none of these)
WAIVABLE = {
    "expired": {"leaf", "chain"},
    "revoked_expired": {"leaf", "chain"},  # no CRL on these vhosts; see test_revocation_still_applies
    "expired_under_retired_ca": {"chain"},
    "valid_under_retired_ca": {"chain"},
}
GOOD = {"valid", "valid_ca2", "other_ca_valid"}
ALWAYS_REFUSED = {"not_yet_valid", "bad_signature", "bad_signature_expired", "impostor_expired",
                  "self_signed_expired", "other_ca_expired"}
# Refused under require/optional; let through unverified under optional_no_ca.
UNVERIFIED_UNDER_NO_CA = {"impostor", "self_signed"}
ALL_DEVICES = sorted(pki_mod.DEVICES)


def host(waiver, mode):
    return f"{waiver}-{mode.replace('_', '-')}.test"


@pytest.fixture(scope="module", params=["event", "prefork"])
def server(request, pki):
    apache = Apache(new_server_root(), mpm=request.param)
    root = apache.root
    with open(os.path.join(root, "htdocs", "index.html"), "w") as f:
        f.write("polyprov test\n")
    os.chmod(os.path.join(root, "htdocs", "index.html"), 0o644)
    port = apache.port
    vhosts = tls_vhost(port, "default.test", pki, verify="none")
    for w in WAIVERS:
        for m in MODES:
            vhosts += tls_vhost(port, host(w, m), pki, verify=m, waiver=None if w == "stock" else w)
    crl = f"    SSLCARevocationFile {pki['crl']}\n    SSLCARevocationCheck leaf\n"
    vhosts += tls_vhost(port, "crl-stock.test", pki, extra=crl)
    vhosts += tls_vhost(port, "crl-leaf.test", pki, waiver="leaf", extra=crl)
    vhosts += tls_vhost(port, "other-anchor.test", pki, waiver="leaf", anchors=pki["other_root"])
    apache.start(vhosts)
    yield apache
    apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):  # keep the logs when debugging
        shutil.rmtree(root)


def get(server, pki, name, device=None, path="/index.html", **kw):
    d = pki["devices"][device] if device else {}
    return curl(name, server.port, path=path, cert=d.get("cert"), key=d.get("key"), cacert=pki["server_ca"], **kw)


# Under TLS 1.3 the client certificate is judged after the client's Finished,
# and the server may close before curl reads the alert; under TLS 1.2 the
# alert is part of the handshake, so there the alerts are compared too.
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("device", ALL_DEVICES + ["none"])
def test_waiver_matrix(server, pki, device, mode, tls):
    dev = None if device == "none" else device

    def outcome(waiver):
        r = get(server, pki, host(waiver, mode), dev, tls_max=tls, tls_min=tls)
        return r.outcome(with_alert=(tls == "1.2"))

    stock = outcome("stock")
    got = {w: outcome(w) for w in ("leaf", "chain")}

    # What stock mod_ssl does, so this test cannot pass on a broken setup.
    if device in GOOD:
        assert stock == ("http", 200, "SUCCESS", "0")
    elif device == "none":
        assert stock[0] == "tls-failure" if mode == "require" else stock == ("http", 200, "NONE", "(null)")
    elif device in UNVERIFIED_UNDER_NO_CA and mode == "optional_no_ca":
        # Apache 2.4.71 reports these as GENEROUS under TLS 1.2 but as
        # FAILED:<reason> under TLS 1.3: never a verified device either way.
        assert stock[:2] == ("http", 200) and (stock[2] == "GENEROUS" or stock[2].startswith("FAILED:"))
    else:
        assert stock[0] == "tls-failure", f"stock mod_ssl let {device} through: {stock}"

    for waiver, outcome in got.items():
        if waiver in WAIVABLE.get(device, ()):
            assert outcome == ("http", 200, "SUCCESS", "1"), f"{waiver} did not waive {device}"
        else:
            assert outcome == stock, f"{waiver} changed the outcome for {device}"


@pytest.mark.parametrize("device", ["revoked_expired", "expired", "valid"])
def test_revocation_still_applies(server, pki, device):
    stock = get(server, pki, "crl-stock.test", device, tls_max="1.2").outcome(with_alert=True)
    leaf = get(server, pki, "crl-leaf.test", device, tls_max="1.2").outcome(with_alert=True)
    if device == "revoked_expired":
        assert stock[0] == "tls-failure" and leaf == stock
        assert "certificate revoked" in server.read_error_log()
    elif device == "expired":
        assert stock[0] == "tls-failure" and leaf == ("http", 200, "SUCCESS", "1")
    else:
        assert stock == leaf == ("http", 200, "SUCCESS", "0")


def test_only_configured_anchors_are_waived(server, pki):
    # mod_ssl trusts both roots; this vhost's anchor file names only the other one.
    polycom = get(server, pki, "other-anchor.test", "expired", tls_max="1.2").outcome(with_alert=True)
    assert polycom == get(server, pki, host("stock", "require"), "expired", tls_max="1.2").outcome(with_alert=True)
    assert polycom[0] == "tls-failure"
    assert get(server, pki, "other-anchor.test", "other_ca_expired").outcome() == ("http", 200, "SUCCESS", "1")


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_tls_versions(server, pki, tls):
    r = get(server, pki, host("leaf", "require"), "expired", tls_max=tls, tls_min=tls)
    assert r.outcome() == ("http", 200, "SUCCESS", "1")
    assert get(server, pki, host("stock", "require"), "expired", tls_max=tls, tls_min=tls).outcome()[0] == "tls-failure"
    assert get(server, pki, host("leaf", "require"), "impostor_expired", tls_max=tls, tls_min=tls).outcome()[0] == "tls-failure"


def test_http2(server, pki):
    if server.mpm == "prefork":
        pytest.skip("mod_http2 disables HTTP/2 under prefork (AH10034)")
    if not have_module("http2"):
        pytest.skip("mod_http2 is not installed")
    r = get(server, pki, host("leaf", "optional"), "expired", http2=True)
    assert r.http_version == "HTTP/2"
    assert r.outcome() == ("http", 200, "SUCCESS", "1")


@pytest.mark.parametrize("tls", ["tls1_2", "tls1_3"])
def test_session_resumption_keeps_the_verdict(server, pki, tls, tmp_path):
    d = pki["devices"]["expired"]
    sess = str(tmp_path / "session.pem")
    name = host("leaf", "require")
    reused, status, headers, out = s_client_get(name, server.port, "/index.html", d["cert"], d["key"], pki["server_ca"],
                                                sess_out=sess, tls=tls)
    assert status == 200 and headers.get("x-cert-expired") == "1", out
    assert os.path.getsize(sess) > 0
    reused, status, headers, out = s_client_get(name, server.port, "/index.html", d["cert"], d["key"], pki["server_ca"],
                                                sess_in=sess, tls=tls)
    assert reused, "the session was not resumed:\n" + out
    assert status == 200, out
    assert headers.get("x-verify") == "SUCCESS"
    assert headers.get("x-cert-expired") == "1"


def test_one_log_line_per_waived_handshake(server, pki):
    mark = server.log_mark()
    assert get(server, pki, host("leaf", "require"), "expired").outcome()[1] == 200
    log = server.log_since(mark)
    lines = [l for l in log.splitlines() if "PP101" in l]
    assert len(lines) == 1, log
    assert "[polyprov:info]" in lines[0]
    assert "MAC 0004F2000003" in lines[0]
    assert re.search(r"expired \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[0])

    mark = server.log_mark()
    assert get(server, pki, host("leaf", "require"), "valid").outcome()[1] == 200
    assert "PP101" not in server.log_since(mark)


def test_waived_certificate_is_not_served_by_a_vhost_without_the_waiver(server, pki):
    # Handshake with SNI naming the waiving vhost, request naming one that
    # waives nothing: stock mod_ssl would never have let this certificate in.
    d = pki["devices"]["expired"]
    r = curl(host("leaf", "require"), server.port, path="/index.html", cert=d["cert"], key=d["key"],
             cacert=pki["server_ca"], headers={"Host": host("stock", "require")})
    assert r.ok and r.status == 421, (r.status, r.error)
    d = pki["devices"]["valid"]
    r = curl(host("leaf", "require"), server.port, path="/index.html", cert=d["cert"], key=d["key"],
             cacert=pki["server_ca"], headers={"Host": host("stock", "require")})
    assert r.ok and r.status == 200


def test_chain_verified_once_per_handshake(server, pki):
    # mod_ssl logs "Certificate Verification, depth N" once per certificate
    # per pass; a second pass over the RSA-4096 chain would repeat them.
    mark = server.log_mark()
    assert get(server, pki, host("chain", "require"), "expired_under_retired_ca").outcome()[1] == 200
    log = server.log_since(mark)
    assert "PP101" in log
    for depth in range(4):
        assert len(re.findall(rf"Certificate Verification, depth {depth},", log)) == 1, log


def test_survives_graceful_restart(server, pki):
    # A graceful restart re-reads the configuration, rebuilds every SSL_CTX
    # and frees the old configuration pool with its waivers.
    for _ in range(2):
        mark = server.log_mark()
        server.graceful()
        assert "resuming normal operations" in server.log_since(mark, wait=0)
        assert get(server, pki, host("leaf", "require"), "expired").outcome() == ("http", 200, "SUCCESS", "1")
        assert get(server, pki, host("stock", "require"), "expired").outcome()[0] == "tls-failure"
