"""Real TLS clients: curl for HTTP, openssl s_client for session resumption."""

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field


@dataclass
class Response:
    ok: bool                 # an HTTP response came back
    status: int = 0
    headers: dict = field(default_factory=dict)
    http_version: str = ""
    error: str = ""          # curl's complaint when no response came
    body: bytes = b""

    @property
    def alert(self):
        m = re.search(r"alert ([a-z0-9 ]+?)(?:,|$)", self.error)
        return m.group(1).strip() if m else ("no alert: " + self.error.strip()[-120:] if self.error else "")

    def outcome(self, with_alert=False):
        """What a client can observe, for comparing two servers."""
        if not self.ok:
            return ("tls-failure", self.alert) if with_alert else ("tls-failure",)
        return ("http", self.status, self.headers.get("x-verify"), self.headers.get("x-cert-expired"))


def curl(host, port, path="/", cert=None, key=None, cacert=None, tls_max=None, tls_min=None,
         http2=False, method=None, data=None, timeout=15, scheme="https", headers=None, digest=None):
    body_file = tempfile.NamedTemporaryFile(prefix="polyprov-body-")
    # --path-as-is: the server, not curl, must cope with /./ and ../
    cmd = ["curl", "-sS", "--path-as-is", "-o", body_file.name, "-D", "-", "--max-time", str(timeout),
           "--resolve", f"{host}:{port}:127.0.0.1", "-w", "%{http_code}"]
    if cacert:
        cmd += ["--cacert", cacert]
    if cert:
        cmd += ["--cert", cert, "--key", key]
    if tls_max:
        cmd += ["--tls-max", tls_max]
    if tls_min:
        cmd += ["--tlsv" + tls_min]
    cmd += ["--http2"] if http2 else ["--http1.1"]
    if method:
        cmd += ["-X", method]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if data is not None:
        cmd += ["--data-binary", data]
    if digest:   # (user, password): HTTP digest authentication
        cmd += ["--digest", "--user", f"{digest[0]}:{digest[1]}"]
    with body_file:
        p = subprocess.run(cmd + [f"{scheme}://{host}:{port}{path}"], capture_output=True, text=True,
                           timeout=timeout + 5)
        body = body_file.read()
    head, _, code = p.stdout.rpartition("\n")
    if p.returncode != 0 or not code.isdigit() or code == "000":
        return Response(ok=False, error=p.stderr)
    headers, version = {}, ""
    for line in p.stdout.splitlines():
        if line.startswith("HTTP/"):
            version = line.split()[0]
        elif ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return Response(ok=True, status=int(code), headers=headers, http_version=version, body=body)


def s_client_get(host, port, path, cert, key, cacert, sess_in=None, sess_out=None, tls=None, timeout=20,
                 cipher=None, host_header=None, cert_chain=None):
    """One HTTP/1.1 GET over `openssl s_client`; returns (reused, status, headers, raw output)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", host,
           "-CAfile", cacert, "-cert", cert, "-key", key, "-ign_eof"]
    if tls:
        cmd.append(f"-{tls}")
    if cipher:
        cmd += ["-cipher", cipher]
    if cert_chain and os.path.getsize(cert_chain) > 0:
        cmd += ["-cert_chain", cert_chain]
    if sess_in:
        cmd += ["-sess_in", sess_in]
    if sess_out:
        cmd += ["-sess_out", sess_out]
    request = f"GET {path} HTTP/1.1\r\nHost: {host_header or host}\r\nConnection: close\r\n\r\n"
    p = subprocess.run(cmd, input=request, capture_output=True, text=True, timeout=timeout)
    out = p.stdout
    reused = bool(re.search(r"^Reused, ", out, re.M))
    # TLS 1.3 session ticket dumps may run into the status line: no ^ anchor.
    m = re.search(r"HTTP/1\.1 (\d{3})", out)
    headers = {}
    if m:
        for line in out[m.end():].split("\r\n\r\n", 1)[0].splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
    return reused, int(m.group(1)) if m else 0, headers, out + p.stderr
