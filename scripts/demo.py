"""Starts the demo server: two vhosts on 127.0.0.1 with the same phones,
one with PolyProvAcceptExpired (port 8443) and one stock (port 8444), so
the difference Apache bug 60028 makes is visible with curl."""

import os
import shlex
import subprocess
import sys

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
module, demo_dir = sys.argv[1], os.path.abspath(sys.argv[2])
os.environ["POLYPROV_MODULE"] = module
sys.path.insert(0, os.path.join(top, "tests", "integration"))

from harness import pki as pki_mod  # noqa: E402
from harness.apache import HTTPD, base_config  # noqa: E402
from harness.vhosts import tls_vhost  # noqa: E402

WAIVER_PORT, STOCK_PORT = 8443, 8444
conf = os.path.join(demo_dir, "conf", "httpd.conf")
pidfile = os.path.join(demo_dir, "run", "httpd.pid")

if os.path.exists(pidfile):
    subprocess.run([HTTPD, "-f", conf, "-k", "stop"], check=False)

for d in ("conf", "run", "logs", "htdocs", "pki"):
    os.makedirs(os.path.join(demo_dir, d), exist_ok=True)
os.chmod(demo_dir, 0o755)
os.chmod(os.path.join(demo_dir, "htdocs"), 0o755)

pki_dir = os.path.join(demo_dir, "pki")
if not os.path.exists(os.path.join(pki_dir, "server.pem")):
    print("generating the demo PKI (RSA-4096 CAs, a few seconds)...")
    pki_mod.generate(pki_dir, server_names=("localhost",))
pki = {
    "anchors": os.path.join(pki_dir, "polycom-root.pem"),
    "ca_bundle_with_other": os.path.join(pki_dir, "trusted-ca.pem"),
    "server_cert": os.path.join(pki_dir, "server.pem"),
    "server_key": os.path.join(pki_dir, "server.key"),
}

phones = {"000000000000.cfg": "<!-- master config shared by every phone -->\n"}
for name in ("valid", "expired"):
    mac = pki_mod.DEVICES[name]
    phones[f"{mac}.cfg"] = f"<!-- config for phone {mac} -->\n"
for name, body in phones.items():
    path = os.path.join(demo_dir, "htdocs", name)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o644)

acl = os.path.join(demo_dir, "conf", "phones.acl")
with open(acl, "w") as f:
    f.write(f"# the demo fleet: MAC [label=...] [sha256=...]\n{pki_mod.DEVICES['valid']} label=reception\n"
            f"{pki_mod.DEVICES['expired']} label=\"old phone, room 12\"\n")
access = (f"    <Directory {demo_dir}/htdocs>\n        Options -Indexes\n        PolyProvRequireDevice on\n"
          f"        PolyProvACLFile {acl}\n    </Directory>\n")

config = base_config(demo_dir, WAIVER_PORT, log_level="warn polyprov:info")
config += f"Listen 127.0.0.1:{STOCK_PORT}\n"
config += tls_vhost(WAIVER_PORT, "localhost", pki, verify="require", waiver="leaf", extra=access)
config += tls_vhost(STOCK_PORT, "localhost", pki, verify="require")
with open(conf, "w") as f:
    f.write(config)
subprocess.run([HTTPD, "-t", "-f", conf], check=True)
subprocess.run([HTTPD, "-f", conf, "-k", "start"], check=True)


def curl_line(port, device, path):
    d = os.path.join(pki_dir, f"device-{device}")
    return (f"curl -sS -i --cacert {pki_dir}/server-ca.pem --cert {d}.pem --key {d}.key "
            f"https://localhost:{port}/{path}")


valid, expired = pki_mod.DEVICES["valid"], pki_mod.DEVICES["expired"]
tries = [
    ("a phone with a valid factory certificate", curl_line(WAIVER_PORT, "valid", f"{valid}.cfg")),
    ("a phone whose factory certificate EXPIRED: accepted (X-Verify: SUCCESS, X-Cert-Expired: 1)",
     curl_line(WAIVER_PORT, "expired", f"{expired}.cfg")),
    ("the same expired phone against stock mod_ssl (port 8444): the handshake fails",
     curl_line(STOCK_PORT, "expired", f"{expired}.cfg")),
    ("an impostor with look-alike Polycom names: refused", curl_line(WAIVER_PORT, "impostor_expired", "000000000000.cfg")),
    (f"phone {valid} asks for phone {expired}'s config: 403 (X-Decision: deny:mac-mismatch)",
     curl_line(WAIVER_PORT, "valid", f"{expired}.cfg")),
]

print(f"\nmod_polyprov demo running: https://localhost:{WAIVER_PORT} (waiver on), "
      f"https://localhost:{STOCK_PORT} (stock mod_ssl)")
print(f"  config {conf}\n  logs   {demo_dir}/logs/error.log (LogLevel polyprov:info)\n")
for title, line in tries:
    print(f"# {title}\n{line}")
    out = subprocess.run(shlex.split(line), capture_output=True, text=True)
    shown = [l for l in (out.stdout + out.stderr).splitlines()
             if l.lower().startswith(("http/", "x-verify", "x-cert-expired", "x-mac", "x-label", "x-decision", "curl:"))]
    print("".join(f"    | {l}\n" for l in shown))
print(f"stop it with:  {HTTPD} -f {conf} -k stop")
