"""Per-request cost of the access check: keep-alive GETs over TLS with a
phone's client certificate, against two vhosts of one apache2 (event MPM),
same run, same files:

  stock    no mod_polyprov directives
  access   PolyProvRequireDevice on, a 100,000-device PolyProvACLFile,
           PolyProvMatchURI on (the phone fetches its own <MAC>.cfg)

CLIENTS processes each open one connection and send REQUESTS GETs on it
(Python's http.client: `ab` and `wrk` cannot present client certificates).
Cases alternate over ROUNDS; medians and their ratio to stock are printed.
Only 127.0.0.1.

usage: bench/requests.py MODULE.so [REQUESTS] [CLIENTS] [ROUNDS]
"""

import http.client
import multiprocessing
import os
import shutil
import ssl
import sys
import tempfile
import time

from common import print_table, server_cpu_seconds, use_module

use_module(sys.argv[1])

from harness import pki as pki_mod  # noqa: E402
from harness.apache import Apache, free_port, new_server_root  # noqa: E402
from harness.vhosts import tls_vhost  # noqa: E402

requests = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 2
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
MAC = pki_mod.DEVICES["valid"]


def client(args):
    port, cert, key, ca, n = args
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    conn = http.client.HTTPSConnection("localhost", port, context=ctx)
    for _ in range(n):
        conn.request("GET", f"/{MAC}.cfg")
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"status {r.status}")
    conn.close()


def run(pool, port, pki):
    """Returns (requests/s, server CPU microseconds per request)."""
    d = pki["devices"]["valid"]
    cpu0, start = server_cpu_seconds(apache.proc.pid), time.monotonic()
    pool.map(client, [(port, d["cert"], d["key"], pki["server_ca"], requests)] * clients)
    elapsed, cpu = time.monotonic() - start, server_cpu_seconds(apache.proc.pid) - cpu0
    return requests * clients / elapsed, cpu * 1e6 / (requests * clients)


work = tempfile.mkdtemp(prefix="polyprov-bench-")
pki = pki_mod.generate(os.path.join(work, "pki"), server_names=("localhost",))
acl = os.path.join(work, "phones.acl")
with open(acl, "w") as f:
    f.write(f"{MAC} label=bench\n")
    f.writelines(f"0004F3{i:06X}\n" for i in range(99999))
apache = Apache(new_server_root())
docs = os.path.join(apache.root, "htdocs")
with open(os.path.join(docs, f"{MAC}.cfg"), "w") as f:
    f.write("<config/>\n" * 40)
os.chmod(os.path.join(docs, f"{MAC}.cfg"), 0o644)
ports = {"stock": apache.port, "access": free_port()}
access = (f"    <Directory {docs}>\n        PolyProvRequireDevice on\n        PolyProvACLFile {acl}\n"
          f"    </Directory>\n")
vhosts = f"Listen 127.0.0.1:{ports['access']}\nKeepAliveTimeout 30\nMaxKeepAliveRequests 0\n"
vhosts += tls_vhost(ports["stock"], "localhost", pki, verify="require")
vhosts += tls_vhost(ports["access"], "localhost", pki, verify="require", extra=access)

try:
    apache.start(vhosts, log_level="warn")
    results = {name: [] for name in ports}
    with multiprocessing.Pool(clients) as pool:
        run(pool, ports["stock"], pki)  # warm up both
        run(pool, ports["access"], pki)
        for _ in range(rounds):
            for name, port in ports.items():
                results[name].append(run(pool, port, pki))
    print_table(f"keep-alive GET of a 440-byte <MAC>.cfg over TLS 1.3 with a client certificate; "
                f"{clients} clients x {requests} requests x {rounds} rounds, event MPM", "req/s", results, "stock")
finally:
    apache.stop()
    shutil.rmtree(apache.root, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
