"""A certificate accepted only because one virtual host's waiver applied is
served only by virtual hosts that would have accepted it themselves
(issue 9): SNI picks the handshake's host, Host the request's, and mod_ssl
itself only refuses (421) when their TLS settings differ, which ours do not
touch. Checked on full handshakes, on keep-alive connections that change
Host, and on resumed sessions (TLS 1.2 and 1.3), whose record of what was
waived travels in the session."""

import http.client
import os
import shutil
import socket
import ssl

import pytest

from harness.apache import Apache, new_server_root
from harness.clients import curl, s_client_get
from harness.vhosts import tls_vhost

# name -> (mode, anchors key)
HOSTS = {
    "leaf-polycom.test": ("leaf", "polycom"),
    "leaf-polycom-b.test": ("leaf", "polycom"),
    "chain-polycom.test": ("chain", "polycom"),
    "leaf-other.test": ("leaf", "other"),
    "leaf-both.test": ("leaf", "both"),
    "stock.test": (None, None),
}


@pytest.fixture(scope="module", params=["event", "prefork"])
def server(request, pki, tmp_path_factory):
    apache = Apache(new_server_root(), mpm=request.param)
    with open(os.path.join(apache.root, "htdocs", "index.html"), "w") as f:
        f.write("polyprov test\n")
    os.chmod(os.path.join(apache.root, "htdocs", "index.html"), 0o644)
    both = os.path.join(apache.root, "conf", "both-roots.pem")
    with open(both, "wb") as out:
        for part in (pki["anchors"], pki["other_root"]):
            with open(part, "rb") as f:
                out.write(f.read())
    anchors = {"polycom": pki["anchors"], "other": pki["other_root"], "both": both}
    vhosts = tls_vhost(apache.port, "default.test", pki, verify="none")
    for name, (mode, anchor) in HOSTS.items():
        vhosts += tls_vhost(apache.port, name, pki, verify="require", waiver=mode,
                            anchors=anchors[anchor] if anchor else None)
    # Both ask for no certificate in the handshake; the second asks for one
    # for its documents, by renegotiation (TLS 1.2) or post-handshake
    # authentication (TLS 1.3), verified by the first one's waiver.
    ca = f"    SSLCACertificateFile {pki['ca_bundle_with_other']}\n    SSLVerifyDepth 4\n"
    vhosts += tls_vhost(apache.port, "reneg-leaf.test", pki, verify="none", waiver="leaf", extra=ca)
    vhosts += tls_vhost(apache.port, "reneg-stock.test", pki, verify="none",
                        extra=ca + "    <Location />\n        SSLVerifyClient require\n    </Location>\n")
    apache.start(vhosts)
    yield apache
    apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(apache.root)


def request(server, pki, device, sni, host):
    d = pki["devices"][device]
    return curl(sni, server.port, path="/index.html", cert=d["cert"], key=d["key"], cacert=pki["server_ca"],
                headers={"Host": host})


# (device, handshake host, request host, status)
CASES = [
    # Nothing waived: served wherever mod_ssl serves it.
    ("valid", "leaf-polycom.test", "stock.test", 200),
    ("valid", "leaf-polycom.test", "leaf-other.test", 200),
    # An expired leaf: only where leaf expiries are waived under the same root.
    ("expired", "leaf-polycom.test", "stock.test", 421),
    ("expired", "leaf-polycom.test", "leaf-other.test", 421),
    ("expired", "leaf-polycom.test", "leaf-polycom-b.test", 200),
    ("expired", "leaf-polycom.test", "chain-polycom.test", 200),
    ("expired", "leaf-polycom.test", "leaf-both.test", 200),
    # An expired issuing CA: only where chain expiries are waived.
    ("valid_under_retired_ca", "chain-polycom.test", "leaf-polycom.test", 421),
    ("valid_under_retired_ca", "chain-polycom.test", "stock.test", 421),
    ("expired_under_retired_ca", "chain-polycom.test", "leaf-polycom.test", 421),
    ("expired_under_retired_ca", "chain-polycom.test", "leaf-both.test", 421),
    # Waived under another vendor's root: not where only Polycom's is an anchor, and back.
    ("other_ca_expired", "leaf-other.test", "leaf-polycom.test", 421),
    ("other_ca_expired", "leaf-other.test", "leaf-both.test", 200),
    ("expired", "leaf-both.test", "leaf-polycom.test", 200),
    ("expired", "leaf-both.test", "leaf-other.test", 421),
]


@pytest.mark.parametrize("device,sni,host,status", CASES)
def test_served_only_where_it_would_be_waived(server, pki, device, sni, host, status):
    r = request(server, pki, device, sni, host)
    assert r.ok, r.error
    assert r.status == status, (r.status, r.headers)
    if status == 200:
        assert r.headers.get("x-verify") == "SUCCESS"


def test_the_refusal_is_logged_with_what_was_waived(server, pki):
    mark = server.log_mark()
    assert request(server, pki, "valid_under_retired_ca", "chain-polycom.test", "leaf-polycom.test").status == 421
    lines = [l for l in server.log_since(mark).splitlines() if "PP105" in l]
    assert len(lines) == 1, lines
    assert "an expiry waiver that leaf-polycom.test would not apply (an issuing CA had expired): 421" in lines[0]


def test_each_request_on_a_connection_is_judged_by_its_own_host(server, pki):
    d = pki["devices"]["expired"]
    ctx = ssl.create_default_context(cafile=pki["server_ca"])
    ctx.load_cert_chain(d["cert"], d["key"])
    seen = []
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=20),
                         server_hostname="leaf-polycom.test") as tls:
        for host in ("leaf-polycom.test", "chain-polycom.test", "stock.test"):
            tls.sendall(f"GET /index.html HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            r = http.client.HTTPResponse(tls)
            r.begin()
            r.read()
            seen.append((host, r.status, r.getheader("X-Cert-Expired")))
    assert seen[:2] == [("leaf-polycom.test", 200, "1"), ("chain-polycom.test", 200, "1")], seen
    assert seen[2][:2] == ("stock.test", 421), seen


@pytest.mark.parametrize("tls", ["tls1_2", "tls1_3"])
def test_a_resumed_session_remembers_what_was_waived(server, pki, tls, tmp_path):
    sess = str(tmp_path / "session.pem")
    chain = str(tmp_path / "chain.pem")
    for device, sni, host, status in [("valid_under_retired_ca", "chain-polycom.test", "leaf-polycom.test", 421),
                                      ("expired", "leaf-polycom.test", "chain-polycom.test", 200),
                                      # Only the record tells "nothing waived" from "an issuing CA, perhaps".
                                      ("valid", "chain-polycom.test", "leaf-polycom.test", 200),
                                      ("valid", "leaf-polycom.test", "stock.test", 200)]:
        d = pki["devices"][device]
        with open(d["cert"]) as f:   # s_client sends only -cert_chain's certificates after the leaf
            pems = f.read().split("-----END CERTIFICATE-----\n")
        with open(chain, "w") as f:
            f.write("".join(p + "-----END CERTIFICATE-----\n" for p in pems[1:] if p.strip()))
        _, first, _, out = s_client_get(sni, server.port, "/index.html", d["cert"], d["key"], pki["server_ca"],
                                        sess_out=sess, tls=tls, cert_chain=chain)
        assert first == 200, out
        reused, second, headers, out = s_client_get(sni, server.port, "/index.html", d["cert"], d["key"],
                                                    pki["server_ca"], sess_in=sess, tls=tls, host_header=host,
                                                    cert_chain=chain)
        assert reused, "the session was not resumed:\n" + out
        assert second == status, (device, host, out)


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_a_certificate_asked_for_later_is_held_to_the_requests_host(server, pki, tls):
    # The certificate arrives in mod_ssl's access checker, after the request
    # was read; the host that asked for it waives nothing.
    d = pki["devices"]["expired"]
    r = curl("reneg-leaf.test", server.port, path="/index.html", cert=d["cert"], key=d["key"],
             cacert=pki["server_ca"], headers={"Host": "reneg-stock.test"}, tls_min=tls, tls_max=tls)
    assert r.ok, r.error
    assert r.status in (421, 403) and b"polyprov test" not in r.body, (r.status, r.headers)
    if r.status == 403:   # mod_ssl could not ask for the certificate at all (no post-handshake auth)
        pytest.skip(f"TLS {tls}: mod_ssl could not ask curl for a certificate after the handshake")
    d = pki["devices"]["valid"]
    r = curl("reneg-leaf.test", server.port, path="/index.html", cert=d["cert"], key=d["key"],
             cacert=pki["server_ca"], headers={"Host": "reneg-stock.test"}, tls_min=tls, tls_max=tls)
    assert (r.status, r.headers.get("x-verify")) == (200, "SUCCESS"), (r.status, r.error)
