"""Instructions per keep-alive GET, counted by callgrind: the server's cost
of one request, stock vs the module, independent of what else the machine
is doing (a count, not a time; the same binary and inputs give the same
figure run after run).

One apache2 in single-process mode (-X, prefork) under valgrind per case;
one keep-alive TLS connection with a phone's client certificate sends
FEW then MANY requests; (instructions after MANY - after FEW) / (MANY - FEW)
is the per-request cost, startup and handshake cancelled out.

  stock    the vhost without any PolyProv directive
  module   PolyProvRequireDevice on with a 100,000-device ACL, MatchURI on,
           PolyProvAcceptExpired leaf (the waiver installed)
  fleet    module, and PolyProvFleet shmcb: every request recorded (its
           updater thread's work included, as it runs in the same process)

usage: bench/instructions.py MODULE.so [FEW] [MANY]

To see where the instructions go: KEEP=1 keeps each case's server root
(its callgrind/ holds the two runs' files) and prints where; CASES="stock
module" runs only those; then bench/callgrind_diff.py ROOT_A ROOT_B MODULE.so
lists the functions whose per-request cost differs.
"""

import http.client
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

from common import use_module

use_module(sys.argv[1])

from harness import pki as pki_mod  # noqa: E402
from harness.apache import HTTPD, Apache, new_server_root  # noqa: E402
from harness.vhosts import tls_vhost  # noqa: E402

FEW = int(sys.argv[2]) if len(sys.argv) > 2 else 50
MANY = int(sys.argv[3]) if len(sys.argv) > 3 else 550
MAC = pki_mod.DEVICES["valid"]


def instructions(apache, pki, requests):
    """Total instructions (Ir) of the server process serving `requests` GETs."""
    # Written at exit, by then as the server's User: a directory it may write.
    outdir = os.path.join(apache.root, "callgrind")
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o777)
    out = os.path.join(outdir, f"callgrind.{requests}")
    # Started as the unprivileged user: callgrind opens its output file at
    # start, and an httpd started as root could no longer write it after
    # switching to its User.
    user = ["setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(user + ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
                                    HTTPD, "-X", "-f", apache.conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        d = pki["devices"]["valid"]
        ctx = ssl.create_default_context(cafile=pki["server_ca"])
        ctx.load_cert_chain(d["cert"], d["key"])
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPSConnection("localhost", apache.port, context=ctx, timeout=60)
                conn.connect()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        for _ in range(requests):
            conn.request("GET", f"/{MAC}.cfg")
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    total = 0
    for name in os.listdir(outdir):
        if name.startswith(f"callgrind.{requests}.") and int(name.rsplit(".", 1)[1]) == proc.pid:
            with open(os.path.join(outdir, name)) as f:
                total = int(re.search(r"^summary: (\d+)", f.read(), re.M).group(1))
    return total


work = tempfile.mkdtemp(prefix="polyprov-bench-")
os.chmod(work, 0o755)
pki = pki_mod.generate(os.path.join(work, "pki"), server_names=("localhost",))
for name in os.listdir(pki["dir"]):   # a throwaway PKI, read by the unprivileged server
    if os.path.isfile(os.path.join(pki["dir"], name)):
        os.chmod(os.path.join(pki["dir"], name), 0o644)
os.chmod(pki["dir"], 0o755)
acl = os.path.join(work, "phones.acl")
with open(acl, "w") as f:
    f.write(f"{MAC} label=bench\n")
    f.writelines(f"0004F3{i:06X}\n" for i in range(99999))
os.chmod(acl, 0o644)
results = {}
try:
    for case in os.environ.get("CASES", "stock module fleet").split():
        apache = Apache(new_server_root(), mpm="prefork")
        docs = os.path.join(apache.root, "htdocs")
        with open(os.path.join(docs, f"{MAC}.cfg"), "w") as f:
            f.write("<config/>\n" * 12)
        os.chmod(os.path.join(docs, f"{MAC}.cfg"), 0o644)
        extra = ""
        if case in ("module", "fleet"):
            extra = (f"    <Directory {docs}>\n        PolyProvRequireDevice on\n        PolyProvACLFile {acl}\n"
                     f"    </Directory>\n")
        vhost = tls_vhost(apache.port, "localhost", pki, verify="require",
                          waiver=None if case == "stock" else "leaf", extra=extra)
        if case == "fleet":
            vhost = f"PolyProvFleet shmcb:{apache.root}/run/fleet(1048576)\n" + vhost
        for d in ("logs", "run"):
            os.chmod(os.path.join(apache.root, d), 0o777)
        apache.write_config("KeepAliveTimeout 300\nMaxKeepAliveRequests 0\n" + vhost,
                            with_polyprov=case != "stock", log_level="warn")
        few, many = instructions(apache, pki, FEW), instructions(apache, pki, MANY)
        results[case] = (many - few) / (MANY - FEW)
        if os.environ.get("KEEP"):
            print(f"{case}: kept {apache.root}")
        else:
            shutil.rmtree(apache.root, ignore_errors=True)
    base = results.get("stock")
    print(f"instructions per keep-alive GET of a 120-byte <MAC>.cfg (callgrind, apache2 -X, prefork; "
          f"({MANY} - {FEW}) requests on one TLS connection)")
    for case, per in results.items():
        print(f"{case:8} {per:12.0f}" + (f"  x{per / base:.3f} of stock" if base else ""))
finally:
    shutil.rmtree(work, ignore_errors=True)
