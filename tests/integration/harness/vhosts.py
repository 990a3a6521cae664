"""<VirtualHost> blocks for the tests and the demo."""

PROBE_HEADERS = """\
    Header always set X-Verify "%{SSL_CLIENT_VERIFY}s"
    Header always set X-Cert-Expired "%{POLYPROV_CERT_EXPIRED}e"
    Header always set X-Client-CN "%{SSL_CLIENT_S_DN_CN}s"
    Header always set X-Mac "%{POLYPROV_MAC}e"
    Header always set X-Claimed-Mac "%{POLYPROV_CLAIMED_MAC}e"
    Header always set X-Label "%{POLYPROV_LABEL}e"
    Header always set X-Decision "%{POLYPROV_DECISION}e"
"""


def tls_vhost(port, name, pki, verify="require", waiver=None, ca_file=None, extra="", anchors=None):
    """An SSL vhost for `name`. waiver: None (stock mod_ssl), "off", "leaf" or "chain"."""
    lines = [
        f"<VirtualHost 127.0.0.1:{port}>",
        f"    ServerName {name}",
        "    SSLEngine on",
        f"    SSLCertificateFile {pki['server_cert']}",
        f"    SSLCertificateKeyFile {pki['server_key']}",
    ]
    if verify != "none":
        lines += [
            f"    SSLCACertificateFile {ca_file or pki['ca_bundle_with_other']}",
            f"    SSLVerifyClient {verify}",
            "    SSLVerifyDepth 4",
        ]
    if waiver is not None:
        lines += [f"    PolyProvAcceptExpired {waiver}",
                  f"    PolyProvTrustAnchorFile {anchors or pki['anchors']}"]
    return "\n".join(lines) + "\n" + PROBE_HEADERS + extra + "</VirtualHost>\n"
