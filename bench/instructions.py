"""Instructions per keep-alive GET, counted by callgrind: the server's cost
of one request, stock vs the module, independent of what else the machine
is doing (a count, not a time; the same binary and inputs give the same
figure run after run).

The servers are bench/servers.py's (the keep-alive benchmark's
configuration: Debian's settings, the same vhost, files and PKI), with
prefork instead of event so that one process serves everything: apache2
-X under valgrind per case; one keep-alive TLS connection with a phone's
client certificate sends FEW then MANY GETs of its 2 kB config;
(instructions after MANY - after FEW) / (MANY - FEW) is the per-request
cost, startup and handshake cancelled out.

  stock    the vhost without any PolyProv directive (the module not loaded)
  module   PolyProvRequireDevice on with a 100,000-device ACL (the MAC in
           the path checked), PolyProvAcceptExpired leaf (the waiver installed)
  fleet    module, and PolyProvFleet shmcb: every request recorded (its
           updater thread's work included, as it runs in the same process)
  stock-log, module-log
           stock and module with an access log line that names
           %{POLYPROV_MAC}e %{POLYPROV_DECISION}e %{SSL_CLIENT_VERIFY}x, as
           operators' CustomLog lines do

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

import phone_pki  # noqa: E402
import servers  # noqa: E402
from harness.apache import HTTPD  # noqa: E402

FEW = int(sys.argv[2]) if len(sys.argv) > 2 else 50
MANY = int(sys.argv[3]) if len(sys.argv) > 3 else 550


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
        d = pki["phones"][0]
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
            conn.request("GET", f"/{d['mac']}.cfg")
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


work = tempfile.mkdtemp(prefix="polyprov-bench-instr-")
os.chmod(work, 0o755)
pki = phone_pki.load(1)
# apache2 runs as its User from the start here (see instructions()): a
# copy of the throwaway server key it can read.
server = []
for path in pki["server"]["rsa"]:
    shutil.copy(path, work)
    server.append(os.path.join(work, os.path.basename(path)))
    os.chmod(server[-1], 0o644)
pki = {**pki, "server": {"rsa": tuple(server)}}
site = servers.Site(pki, 1)
acl = os.path.join(work, "phones.acl")
with open(acl, "w") as f:
    f.write(f"{pki['phones'][0]['mac']} label=bench\n")
    f.writelines(f"0004F3{i:06X}\n" for i in range(99999))
os.chmod(acl, 0o644)
results = {}
try:
    for case in os.environ.get("CASES", "stock module fleet").split():
        kind, _, variant = case.partition("-")
        apache = servers.BenchApache(kind, site, acl=acl, mpm="prefork", log_vars=variant == "log",
                                     extra_server="KeepAliveTimeout 300\nMaxKeepAliveRequests 0\n")
        for d in ("logs", "run"):   # written by apache2 running as its User from the start
            os.chmod(os.path.join(apache.root, d), 0o777)
        apache.write_config()
        few, many = instructions(apache, pki, FEW), instructions(apache, pki, MANY)
        results[case] = (many - few) / (MANY - FEW)
        if os.environ.get("KEEP"):
            print(f"{case}: kept {apache.root}")
        else:
            shutil.rmtree(apache.root, ignore_errors=True)
    base = results.get("stock")
    base_log = results.get("stock-log", base)
    print(f"instructions per keep-alive GET of a phone's 2 kB <MAC>.cfg (callgrind, apache2 -X, prefork; "
          f"({MANY} - {FEW}) requests on one TLS connection)")
    for case, per in results.items():
        ref, ref_name = (base_log, "stock-log") if case.endswith("-log") else (base, "stock")
        print(f"{case:10} {per:12.0f}" + (f"  x{per / ref:.3f} of {ref_name}" if ref else ""))
finally:
    site.remove()
    shutil.rmtree(work, ignore_errors=True)
