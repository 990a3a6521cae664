"""The boot storm: N phones with distinct certificates start at the same
moment (as after a power cut) and each runs a phone's boot sequence:

  GET <mac>.cfg, GET 000000000000.cfg, GET <mac>-phone.cfg,
  GET the firmware image (a few MB), HEAD logs/<mac>-boot.log,
  PUT its new log lines with Content-Range: bytes S-E/* (an append).

The client is bench/phoneboot (C++, OpenSSL, one thread per phone; see its
header for how a phone handles connections and sessions), built by `make
check` in the build directory. It reports its own CPU time, so the
client's share of the machine is known.

Result per storm: the time until every phone was served, p50/p99 of the
phones' times, errors (anything but the expected statuses; a PUT refused
with 405 counts as "uploads not supported", not as an error: nginx's
recipe cannot store uploads), handshakes full and resumed, and the retries
of requests on connections the server had closed."""

import os
import statistics
import subprocess
import time

import common
import measure
from servers import FIRMWARE


def storm(client, port, phones, server_ca, tls_max=None, timeout=600, upload=True):
    """Runs one storm with the phoneboot binary `client`; returns a summary
    dict. upload=False: the boot without its log's HEAD and PUT."""
    lines = "".join(f"{p['mac']} {p['cert']} {p['key']}\n" for p in phones)
    cmd = [client, str(port), server_ca, "/" + FIRMWARE] + (["tls1.2"] if tls_max == "1.2" else [])
    cmd += [] if upload else ["no-upload"]
    p = subprocess.run(cmd, input=lines, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"phoneboot failed ({p.returncode}): {p.stderr[-2000:]}")
    results = []
    cpu = wall = None
    for line in p.stdout.splitlines():
        f = line.split()
        if f[0] == "cpu":
            cpu, wall = float(f[1]), float(f[2])
            continue
        mac, seconds, done_at, full, resumed, retries, statuses, error = f
        results.append({"mac": mac, "seconds": float(seconds), "done_at": float(done_at), "full": int(full),
                        "resumed": int(resumed), "retries": int(retries),
                        "statuses": [int(s) for s in statuses.split(",")] if statuses != "-" else [],
                        "error": None if error == "-" else error.replace("_", " ")})
    if len(results) != len(phones) or cpu is None:
        raise RuntimeError("phoneboot answered for fewer phones than it was given")
    times = sorted(r["seconds"] for r in results)
    errors = [r for r in results if r["error"]]
    return {
        "phones": len(results),
        "all_served_s": wall,
        "p50_s": statistics.median(times),
        "p99_s": times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))],
        "errors": len(errors),
        "error_examples": sorted({e["error"] for e in errors})[:5],
        "full_handshakes": sum(r["full"] for r in results),
        "resumed_handshakes": sum(r["resumed"] for r in results),
        "retries": sum(r["retries"] for r in results),
        "puts_refused": sum(1 for r in results if r["statuses"][-1:] == [405]),
        "client_cpu_s": cpu,
    }


def threads(pgid):
    """The threads of every process of a server (one process group)."""
    return sum(int(fields[17]) for _, fields in common.group_processes(pgid))


def settled(pgid, quiet=1.0, limit=30.0):
    """Waits until the server's thread count has not changed for `quiet`
    seconds: apache2's start returns once a child serves, while its other
    children are still starting their workers. Returns the count."""
    began = last_change = time.monotonic()
    last = threads(pgid)
    while time.monotonic() - began < limit:
        time.sleep(0.2)
        now = threads(pgid)
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            break
    return last


def on_fresh_server(make, client, site, phones, server_ca, upload=True):
    """One storm on a server made by `make()` and started for it, as one
    that sat idle before the power came back (empty session caches), once
    its workers are all up. Returns (the storm's summary with the server's
    CPU, listen drops, memory idle and after, logs stored; the server's
    error-log lines at error or worse)."""
    s = make()
    s.start()
    problems = []
    try:
        site.clear_logs()
        res = {"threads_idle": settled(s.proc.pid), "pss_kb_idle": measure.pss_kb(s.proc.pid)}
        cpu0, drops0 = s.cpu_seconds(), measure.listen_drops()
        res.update(storm(client, s.port, phones, server_ca, upload=upload))
        res["server_cpu_s"] = s.cpu_seconds() - cpu0
        res["listen_drops"] = measure.listen_drops() - drops0
        res["pss_kb_after"] = measure.pss_kb(s.proc.pid)
        res["uploads_on_disk"] = sum(1 for f in os.listdir(site.logs) if f.endswith("-boot.log"))
        return res, problems
    finally:
        problems += s.remove()


def default_client(build_dir):
    return os.path.join(build_dir, "bench", "phoneboot")
