"""Ranged appends, the way phones upload logs: mod_polyprov's PUT handler
against mod_dav's, one apache2 (event MPM), same vhost, same run.

  dav        <Directory .../dav>  Dav On (mod_dav_fs), no access control
  polyprov   <Directory .../logs> PolyProvRequireDevice on, PolyProvUpload on

CLIENTS processes each append APPENDS records of RECORD bytes to a file of
their own, with Content-Range: bytes S-E/* on one keep-alive TLS connection
with a phone certificate. Cases alternate over ROUNDS. Only 127.0.0.1.

mod_polyprov fsyncs every write and stages each body first (so a failure
leaves the file as it was); mod_dav does neither. The ratio is that price.

usage: bench/uploads.py MODULE.so [APPENDS] [CLIENTS] [ROUNDS] [RECORD]
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
from harness.apache import Apache, new_server_root  # noqa: E402
from harness.vhosts import tls_vhost  # noqa: E402

appends = int(sys.argv[2]) if len(sys.argv) > 2 else 500
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 2
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
record = int(sys.argv[5]) if len(sys.argv) > 5 else 200
MAC = pki_mod.DEVICES["valid"]


def client(args):
    port, cert, key, ca, directory, n, index, round_no = args
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    conn = http.client.HTTPSConnection("localhost", port, context=ctx)
    path = f"/{directory}/{MAC}-app{index}-r{round_no}.log"
    body = b"x" * (record - 1) + b"\n"
    offset = 0
    for _ in range(n):
        conn.request("PUT", path, body=body,
                     headers={"Content-Range": f"bytes {offset}-{offset + record - 1}/*"})
        r = conn.getresponse()
        r.read()
        if r.status not in (200, 201, 204):
            raise RuntimeError(f"{directory}: status {r.status}")
        offset += record
    conn.close()


def run(pool, directory, round_no):
    d = pki["devices"]["valid"]
    cpu0, start = server_cpu_seconds(apache.proc.pid), time.monotonic()
    pool.map(client, [(apache.port, d["cert"], d["key"], pki["server_ca"], directory, appends, i, round_no)
                      for i in range(clients)])
    elapsed, cpu = time.monotonic() - start, server_cpu_seconds(apache.proc.pid) - cpu0
    ops = appends * clients
    # Every byte arrived where it belongs, in both cases.
    for i in range(clients):
        with open(os.path.join(docs, directory, f"{MAC}-app{i}-r{round_no}.log"), "rb") as f:
            assert f.read() == (b"x" * (record - 1) + b"\n") * appends
    return ops / elapsed, cpu * 1e6 / ops


work = tempfile.mkdtemp(prefix="polyprov-bench-")
pki = pki_mod.generate(os.path.join(work, "pki"), server_names=("localhost",))
apache = Apache(new_server_root())
docs = os.path.join(apache.root, "htdocs")
for d in (os.path.join(docs, "dav"), os.path.join(docs, "logs"), os.path.join(apache.root, "davlock")):
    os.makedirs(d)
    if os.geteuid() == 0:
        shutil.chown(d, "www-data", "www-data")
config = (f"DavLockDB {apache.root}/davlock/db\nKeepAliveTimeout 30\nMaxKeepAliveRequests 0\n"
          f"<Directory {docs}/dav>\n    Dav On\n</Directory>\n"
          f"<Directory {docs}/logs>\n    PolyProvRequireDevice on\n    PolyProvUpload on\n"
          f"    PolyProvUploadMaxSize 1G\n</Directory>\n")

try:
    apache.start(config + tls_vhost(apache.port, "localhost", pki, verify="require"),
                 log_level="warn", extra_modules=("dav", "dav_fs"))
    results = {"dav": [], "polyprov": []}
    with multiprocessing.Pool(clients) as pool:
        for r in range(rounds):
            for name, directory in (("dav", "dav"), ("polyprov", "logs")):
                results[name].append(run(pool, directory, r))
    print_table(f"ranged PUT appends of {record} bytes over TLS 1.3 keep-alive with a client certificate; "
                f"{clients} clients x {appends} appends x {rounds} rounds, event MPM, files in {work[:4]}..",
                "appends/s", results, "dav")
finally:
    apache.stop()
    shutil.rmtree(apache.root, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
