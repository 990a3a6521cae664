"""Full-handshake throughput: stock mod_ssl against the waiver, same server,
same run. One apache2 (event MPM) listens on three ports, one vhost each:

  stock    SSLVerifyClient require, no waiver       (a phone with a valid certificate)
  waiver   the same plus PolyProvAcceptExpired leaf (the same valid phone)
  expired  the waiver vhost again                   (a phone with an expired certificate)

Each case runs `openssl s_time -new -www /index.html` (a new TLS 1.3
handshake and one GET per connection) for SECONDS, in alternating rounds,
and the medians are reported with their ratio to stock. Only 127.0.0.1.

usage: bench/handshakes.py MODULE.so [SECONDS] [ROUNDS]
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["POLYPROV_MODULE"] = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.join(top, "tests", "integration"))

from harness import pki as pki_mod  # noqa: E402
from harness.apache import Apache, free_port, new_server_root  # noqa: E402
from harness.vhosts import tls_vhost  # noqa: E402

seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3

work = tempfile.mkdtemp(prefix="polyprov-bench-")
pki = pki_mod.generate(os.path.join(work, "pki"), server_names=("localhost",))
apache = Apache(new_server_root())
ports = {"stock": apache.port, "waiver": free_port()}
with open(os.path.join(apache.root, "htdocs", "index.html"), "w") as f:
    f.write("x" * 512)
os.chmod(os.path.join(apache.root, "htdocs", "index.html"), 0o644)

vhosts = f"Listen 127.0.0.1:{ports['waiver']}\n"
vhosts += tls_vhost(ports["stock"], "localhost", pki, verify="require")
vhosts += tls_vhost(ports["waiver"], "localhost", pki, verify="require", waiver="leaf")
cases = {"stock": (ports["stock"], "valid"), "waiver": (ports["waiver"], "valid"),
         "expired": (ports["waiver"], "expired")}


def s_time(port, device):
    d = pki["devices"][device]
    began = time.monotonic()
    out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-tls1_3",
                          "-www", "/index.html", "-time", str(seconds), "-cert", d["cert"], "-key", d["key"]],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    wall = time.monotonic() - began
    # Not s_time's own "N connections in Xs": X is the client's user CPU time.
    m = re.search(r"(\d+) connections in ([\d.]+)s", out)
    if not m:
        raise RuntimeError("s_time printed no result:\n" + out)
    return int(m.group(1)) / wall


try:
    apache.start(vhosts, log_level="warn")
    results = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (port, device) in cases.items():
            results[name].append(s_time(port, device))
    base = statistics.median(results["stock"])
    print(f"openssl s_time -new -tls1_3 -www, {seconds}s x {rounds} rounds, event MPM, "
          f"RSA-4096 Polycom-shaped chain, RSA-2048 leaf")
    print(f"{'case':10} {'conn/s (median)':>16} {'vs stock':>9}   all rounds")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"{name:10} {med:16.1f} {med / base:9.3f}   " + ", ".join(f"{v:.1f}" for v in values))
finally:
    apache.stop()
    shutil.rmtree(apache.root, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
