"""Starts the demo server on 127.0.0.1: the phones' site with the module
(port 8443: waiver, access control, uploads, the fleet view) and the same
site with stock mod_ssl (port 8444), so the difference Apache bug 60028
makes is visible with curl; the fleet page on a plain-HTTP loopback port
(8445). Then a short scripted visit of phones, so the page has something to
show. A demo already running is stopped first.

usage: demo.py MODULE DEMO_DIR [--screenshot FILE]"""

import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
module, demo_dir = sys.argv[1], os.path.abspath(sys.argv[2])
screenshot = sys.argv[sys.argv.index("--screenshot") + 1] if "--screenshot" in sys.argv else None
os.environ["POLYPROV_MODULE"] = module
sys.path.insert(0, os.path.join(top, "tests", "integration"))

from harness import pki as pki_mod  # noqa: E402
from harness.apache import HTTPD, base_config  # noqa: E402
from harness.browser import chromium  # noqa: E402
from harness.fleet import EDGE, SOUNDPOINT, VVX, plain_status_vhost  # noqa: E402
from harness.vhosts import tls_vhost  # noqa: E402

# POLYPROV_DEMO_PORTS="A B C": other ports (the tests use free ones).
WAIVER_PORT, STOCK_PORT, STATUS_PORT = (int(p) for p in os.environ.get("POLYPROV_DEMO_PORTS", "8443 8444 8445").split())
conf = os.path.join(demo_dir, "conf", "httpd.conf")
pidfile = os.path.join(demo_dir, "run", "httpd.pid")
FLEET_URL = f"http://127.0.0.1:{STATUS_PORT}/fleet"


def stop_running_demo():
    """Stops the demo a previous run started, and waits until it is gone
    (apache2 -k stop returns before its ports are free)."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 0)
    except OSError:
        return   # a stale PID file: the server is not running
    print(f"stopping the demo server already running (pid {pid})...")
    subprocess.run([HTTPD, "-f", conf, "-k", "stop"], check=False)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def ports_free():
    for port in (WAIVER_PORT, STOCK_PORT, STATUS_PORT):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                sys.exit(f"port {port} on 127.0.0.1 is in use by another program: stop it, then run the demo again")


stop_running_demo()
ports_free()

for d in ("conf", "run", "logs", "htdocs", "pki"):
    os.makedirs(os.path.join(demo_dir, d), exist_ok=True)
os.chmod(demo_dir, 0o755)
os.chmod(os.path.join(demo_dir, "htdocs"), 0o755)
uploads = os.path.join(demo_dir, "htdocs", "logs")
os.makedirs(uploads, exist_ok=True)
if os.geteuid() == 0:
    shutil.chown(uploads, "www-data", "www-data")

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
valid, expired = pki_mod.DEVICES["valid"], pki_mod.DEVICES["expired"]
unlisted = pki_mod.DEVICES["valid_ca2"]

phones = {"000000000000.cfg": "<!-- master config shared by every phone -->\n"}
for mac in (valid, expired):
    phones[f"{mac}.cfg"] = f"<!-- config for phone {mac} -->\n"
for name, body in phones.items():
    path = os.path.join(demo_dir, "htdocs", name)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o644)

acl = os.path.join(demo_dir, "conf", "phones.acl")
with open(acl, "w") as f:
    f.write(f"# the demo fleet: MAC [label=...] [sha256=...]\n{valid} label=reception\n"
            f"{expired} label=\"old phone, room 12\"\n")
access = (f"    <Directory {demo_dir}/htdocs>\n        Options -Indexes\n        PolyProvRequireDevice on\n"
          f"        PolyProvACLFile {acl}\n    </Directory>\n"
          f"    <Directory {uploads}>\n        PolyProvUpload on\n    </Directory>\n")

config = base_config(demo_dir, WAIVER_PORT, log_level="warn polyprov:info", extra_modules=("authz_host",))
config += f"PolyProvFleet shmcb:{demo_dir}/run/fleet(2097152)\n"
config += f"Listen 127.0.0.1:{STOCK_PORT}\n"
config += tls_vhost(WAIVER_PORT, "localhost", pki, verify="require", waiver="leaf", extra=access)
config += tls_vhost(STOCK_PORT, "localhost", pki, verify="require")
config += plain_status_vhost(STATUS_PORT)
with open(conf, "w") as f:
    f.write(config)
subprocess.run([HTTPD, "-t", "-f", conf], check=True)
subprocess.run([HTTPD, "-f", conf, "-k", "start"], check=True)


def curl_line(port, device, path, agent=None, upload=None):
    d = os.path.join(pki_dir, f"device-{device}")
    line = f"curl -sS -i --cacert {pki_dir}/server-ca.pem --cert {d}.pem --key {d}.key"
    if agent:
        line += f" -A {shlex.quote(agent)}"
    if upload:
        line += f" -T {upload}"
    return line + f" https://localhost:{port}/{path}"


def server_alert(curl_output, port, device):
    """The TLS alert the server sent this device, in words, or None. curl
    names it when the alert arrived before curl wrote its request; when the
    server closed first, curl reports only a socket error, so the handshake
    is made again with Python's ssl, which names the alert it reads."""
    m = re.search(r"alert ([a-z ]+?)(?:,|$)", curl_output, re.M)
    if m:
        return m.group(1)
    d = os.path.join(pki_dir, f"device-{device}")
    ctx = ssl.create_default_context(cafile=os.path.join(pki_dir, "server-ca.pem"))
    ctx.load_cert_chain(f"{d}.pem", f"{d}.key")
    for _ in range(3):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    # TLS 1.3: the server judges the certificate after the
                    # client's Finished, so the alert comes with the answer.
                    tls.recv(1)
        except ssl.SSLError as e:
            m = re.search(r"(?:SSLV3|TLSV1)_ALERT_([A-Z_]+)", e.reason or str(e))
            if m:
                return m.group(1).lower().replace("_", " ")
        except OSError:
            pass
    return None


def wait_for_port(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"the demo server does not answer on port {port}: see {demo_dir}/logs/error.log")


for port in (WAIVER_PORT, STOCK_PORT, STATUS_PORT):
    wait_for_port(port)

note = os.path.join(demo_dir, f"{valid}-app.log")
with open(note, "w") as f:
    f.write("hello from the reception phone\n")

# (title, command, the device whose handshake may fail and on which port)
tries = [
    ("a phone with a valid factory certificate fetches the shared config and its own",
     curl_line(WAIVER_PORT, "valid", "000000000000.cfg", agent=VVX), None),
    ("", curl_line(WAIVER_PORT, "valid", f"{valid}.cfg", agent=VVX), None),
    ("a phone whose factory certificate EXPIRED: accepted (X-Verify: SUCCESS, X-Cert-Expired: 1)",
     curl_line(WAIVER_PORT, "expired", f"{expired}.cfg", agent=SOUNDPOINT), None),
    (f"the same expired phone against stock mod_ssl (port {STOCK_PORT}): the handshake fails",
     curl_line(STOCK_PORT, "expired", f"{expired}.cfg"), ("expired", STOCK_PORT)),
    ("an impostor with look-alike Polycom names: refused in the handshake",
     curl_line(WAIVER_PORT, "impostor_expired", "000000000000.cfg"), ("impostor_expired", WAIVER_PORT)),
    (f"a genuine phone that is not on the allow-list: 403 (X-Decision: deny:not-in-acl)",
     curl_line(WAIVER_PORT, "valid_ca2", f"{unlisted}.cfg", agent=EDGE), None),
    (f"phone {valid} asks for phone {expired}'s config: 403 (X-Decision: deny:mac-mismatch), a probe",
     curl_line(WAIVER_PORT, "valid", f"{expired}.cfg", agent=VVX), None),
    (f"phone {valid} uploads its log: 201 (204 when sent again, appended with Content-Range)",
     curl_line(WAIVER_PORT, "valid", f"logs/{valid}-app.log", agent=VVX, upload=note), None),
]

print(f"\nmod_polyprov demo running: https://localhost:{WAIVER_PORT} (the module), "
      f"https://localhost:{STOCK_PORT} (stock mod_ssl)")
print(f"  config {conf}\n  logs   {demo_dir}/logs/error.log (LogLevel polyprov:info)\n")
for title, line, handshake in tries:
    if title:
        print(f"# {title}")
    print(line)
    out = subprocess.run(shlex.split(line), capture_output=True, text=True)
    shown = [l for l in (out.stdout + out.stderr).splitlines()
             if l.lower().startswith(("http/", "x-verify", "x-cert-expired", "x-mac", "x-label", "x-decision", "curl:"))]
    if out.returncode != 0 and handshake:
        alert = server_alert(out.stderr, handshake[1], handshake[0])
        shown.append(f"the server refused the handshake with the TLS alert \"{alert}\"" if alert
                     else "the handshake failed without a TLS alert from the server")
    print("".join(f"    | {l}\n" for l in shown))

# The fleet updater writes about once a second.
auto = ""
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    with urllib.request.urlopen(FLEET_URL + "?auto", timeout=10) as reply:
        auto = reply.read().decode()
    if re.search(r"^Devices: [1-9]", auto, re.M) and re.search(r"^Refused: [1-9]", auto, re.M):
        break
    time.sleep(0.5)
print("# the fleet view of that visit")
print(f"curl -sS {FLEET_URL}?auto")
print("".join(f"    | {l}\n" for l in auto.splitlines()[:11]))
print(f"fleet page:  {FLEET_URL}   (also ?json, ?csv, and ?metrics for Prometheus)")

if screenshot:
    rc, _, err = chromium(f"--screenshot={os.path.abspath(screenshot)}", "--window-size=1280,1400", FLEET_URL,
                          timeout=120)
    if rc != 0:
        sys.exit(f"chromium could not take the screenshot:\n{err[-2000:]}")
    print(f"screenshot:  {screenshot}")
print(f"stop it with:  {HTTPD} -f {conf} -k stop")
