"""One measurement each, against one running server: what bench/run-all
repeats in alternating rounds. Every function returns a dict of figures;
rates are from the wall clock, costs from the server's own CPU time
(utime+stime of its processes) and the client's (its rusage)."""

import http.client
import os
import platform
import re
import resource
import shutil
import signal
import ssl
import statistics
import subprocess
import tempfile
import threading
import time

import common


def run_client(cmd, timeout, env=None):
    """Runs a load generator; returns (stdout, wall seconds, its CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.stdout, wall, cpu


# ---------------------------------------------------------------- keep-alive GETs

def keepalive(server, phone, path, seconds, concurrency):
    """ab -k: keep-alive GETs of `path` with a phone's certificate."""
    cmd = ["ab", "-q", "-k", "-t", str(seconds), "-n", "10000000", "-c", str(concurrency), "-E", phone["both"],
           f"https://localhost:{server.port}{path}"]
    cpu0 = server.cpu_seconds()
    out, wall, client_cpu = run_client(cmd, seconds + 120)
    server_cpu = server.cpu_seconds() - cpu0
    done = int(re.search(r"^Complete requests:\s+(\d+)", out, re.M).group(1))
    failed = int(re.search(r"^Failed requests:\s+(\d+)", out, re.M).group(1))
    non2xx = re.search(r"^Non-2xx responses:\s+(\d+)", out, re.M)
    elapsed = float(re.search(r"^Time taken for tests:\s+([\d.]+)", out, re.M).group(1))
    if failed or non2xx or done == 0:
        raise RuntimeError(f"ab: {done} requests, {failed} failed, non-2xx {non2xx.group(1) if non2xx else 0}")
    return {"rate": done / elapsed, "server_us": server_cpu * 1e6 / done, "client_us": client_cpu * 1e6 / done,
            "count": done}


# ---------------------------------------------------------------- handshakes

def s_time(server, phone, tls, seconds, reuse=False):
    """openssl s_time: new connections (a full handshake and one GET each),
    or resumed ones (-reuse: the first full, every further one resumed)."""
    cmd = ["openssl", "s_time", "-connect", f"127.0.0.1:{server.port}", "-reuse" if reuse else "-new",
           f"-{tls}", "-www", "/index.html", "-time", str(seconds), "-cert", phone["cert"], "-key", phone["key"]]
    cpu0 = server.cpu_seconds()
    out, wall, client_cpu = run_client(cmd, seconds + 120)
    server_cpu = server.cpu_seconds() - cpu0
    done = int(re.findall(r"(\d+) connections in [\d.]+s;", out)[-1])
    # s_time prints '*' for a full handshake and 'r' for a resumed one.
    marks = "".join(re.findall(r"^[*r]+$", out, re.M))
    return {"rate": done / wall, "server_us": server_cpu * 1e6 / done, "client_us": client_cpu * 1e6 / done,
            "count": done, "resumed_share": marks.count("r") / len(marks) if marks else (0.0 if not reuse else None)}


# ---------------------------------------------------------------- uploads

def appends(server, phone, server_ca, directory, name, count, record):
    """Ranged PUT appends to one file on one keep-alive connection, the way
    phones upload logs; every byte is checked afterwards."""
    ctx = ssl.create_default_context(cafile=server_ca)
    ctx.load_cert_chain(phone["cert"], phone["key"])
    conn = http.client.HTTPSConnection("localhost", server.port, context=ctx, timeout=60)
    body = b"y" * (record - 1) + b"\n"
    path = f"/logs/{name}"
    cpu0 = server.cpu_seconds()
    began = time.monotonic()
    for i in range(count):
        conn.request("PUT", path, body=body,
                     headers={"Content-Range": f"bytes {i * record}-{(i + 1) * record - 1}/*"})
        r = conn.getresponse()
        r.read()
        if r.status not in (201, 204):
            raise RuntimeError(f"append {i}: {r.status}")
    wall = time.monotonic() - began
    server_cpu = server.cpu_seconds() - cpu0
    conn.close()
    with open(os.path.join(directory, name), "rb") as f:
        if f.read() != body * count:
            raise RuntimeError(f"{name}: the file is not the {count} appended records")
    return {"rate": count / wall, "server_us": server_cpu * 1e6 / count, "count": count}


def sync_costs(directory, record, count):
    """What one append costs the file system alone, in microseconds: write
    only, write + fdatasync, write + fsync (the module's choice)."""
    out = {}
    for kind in ("write", "fdatasync", "fsync"):
        fd, path = tempfile.mkstemp(dir=directory, prefix=".bench-sync-")
        data = b"z" * record
        try:
            began = time.monotonic()
            for _ in range(count):
                os.write(fd, data)
                if kind == "fdatasync":
                    os.fdatasync(fd)
                elif kind == "fsync":
                    os.fsync(fd)
            out[kind] = (time.monotonic() - began) * 1e6 / count
        finally:
            os.close(fd)
            os.unlink(path)
    return out


# ---------------------------------------------------------------- the ACL

def acl_core(tool, directory, sizes):
    """bench/acl_figures: load ms, retained and peak kB, lookup ns, take ms, table kB."""
    out, _, _ = run_client([tool, directory] + [str(s) for s in sizes], 600)
    rows = {}
    for line in out.splitlines():
        size, load_ms, kept, peak, find_ns, parse_find_ns, take_ms, table_kb = line.split()
        rows[int(size)] = {"load_ms": float(load_ms), "retained_kb": int(kept), "peak_kb": int(peak),
                           "find_ns": float(find_ns), "parse_find_ns": float(parse_find_ns),
                           "take_ms": float(take_ms), "table_kb": int(table_kb)}
    return rows


def pss_kb(pgid):
    """Proportional set size of a server's processes: the memory they use,
    shared pages divided among the processes sharing them."""
    total = 0
    for pid, _ in common.group_processes(pgid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += int(re.search(r"^Pss:\s+(\d+) kB", f.read(), re.M).group(1))
        except (OSError, AttributeError, ValueError):
            pass
    return total


def configtest_seconds(server):
    began = time.monotonic()
    rc, out = server.configtest()
    if rc != 0:
        raise RuntimeError(out)
    return time.monotonic() - began


# ---------------------------------------------------------------- the machine

def machine():
    def cmd(args):
        try:
            p = subprocess.run(args, capture_output=True, text=True, timeout=60)
            return p.stdout + p.stderr
        except OSError:
            return ""
    cpu = re.search(r"^model name\s*:\s*(.+)$", open("/proc/cpuinfo").read(), re.M)
    speed = cmd(["openssl", "speed", "-seconds", "1", "rsa2048", "rsa4096", "ecdsap256"])
    rsa = dict(re.findall(r"^rsa (\d+) bits [\d.]+s [\d.]+s\s+([\d.]+)\s+[\d.]+", speed, re.M))
    rsa_verify = dict(re.findall(r"^rsa (\d+) bits [\d.]+s [\d.]+s\s+[\d.]+\s+([\d.]+)", speed, re.M))
    ecdsa = re.search(r"256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)", speed)
    with open("/etc/debian_version") as f:
        debian = f.read().strip()
    return {
        "cpu": cpu.group(1) if cpu else platform.processor(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "debian": debian,
        "apache": re.search(r"Server version: (.+)", cmd(["apache2", "-v"])).group(1),
        "nginx": cmd(["nginx", "-v"]).strip().replace("nginx version: ", ""),
        "openssl": cmd(["openssl", "version"]).strip(),
        "python": platform.python_version(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "rsa2048_sign_per_s": float(rsa.get("2048", 0)),
        "rsa4096_verify_per_s": float(rsa_verify.get("4096", 0)),
        "ecdsa_p256_sign_per_s": float(ecdsa.group(1)) if ecdsa else 0.0,
    }


def listen_drops():
    """SYNs and connections the kernel dropped because a listen queue was
    full (TcpExt ListenOverflows + ListenDrops, whole machine)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], (int(v) for v in values.split()[1:])))
            return table.get("ListenOverflows", 0) + table.get("ListenDrops", 0)
    return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def median(values):
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------- where the time goes

def profile(server, phone, path, seconds, concurrency, work):
    """perf (cpu-clock samples with DWARF call graphs) of the server's
    processes under keep-alive GETs: each object's share of the server's
    CPU, by its own code ('self') and with what it calls ('total'), and the
    hottest symbols. Sampled while ab runs, after its first second."""
    if not shutil.which("perf"):
        raise RuntimeError("perf is missing: apt-get install linux-perf")
    pids = [str(server.proc.pid)] + subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True,
                                                   text=True).stdout.split()
    data = os.path.join(work, "perf.data")
    load = {}
    client = threading.Thread(target=lambda: load.update(keepalive(server, phone, path, seconds + 2, concurrency)))
    client.start()
    time.sleep(1)
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
                            "-o", data, "-p", ",".join(pids)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    rec.send_signal(signal.SIGINT)
    rec.wait(timeout=120)
    client.join()

    def report(*args):
        out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--percent-limit", "0.5", *args],
                             capture_output=True, text=True, timeout=600).stdout
        return out

    def rows(text, columns):
        found = []
        for line in text.splitlines():
            m = re.match(r"\s+" + r"\s+".join([r"([\d.]+)%"] * columns) + r"\s+(.*\S)", line)
            if m:
                found.append([float(m.group(i + 1)) for i in range(columns)] + [m.group(columns + 1).strip()])
        return found

    objects = {}
    for total, own, name in rows(report("--children", "--sort", "dso", "-g", "none"), 2):
        objects[name] = {"total": total, "self": own}
    symbols = [{"self": own, "symbol": " ".join(name.split())}
               for own, name in rows(report("--no-children", "--sort", "dso,sym", "-g", "none"), 1)[:15]]
    module = module_samples(subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True,
                                           timeout=600).stdout)
    os.unlink(data)
    return {"objects": objects, "symbols": symbols, "module": module, "rate": load.get("rate"),
            "server_us": load.get("server_us")}


REQUEST_FRAMES = ("ap_read_request", "ap_process_request", "ap_process_async_request", "ap_run_log_transaction")


def module_samples(script):
    """Shares of the samples (perf script's call chains, innermost frame
    first) in which mod_polyprov.so is on the stack: `own`, the module's
    code and what it calls, split into `in_requests` (its request and log
    hooks) and the rest (handshakes: its verify callback, connection set-up);
    and `verification`, OpenSSL's chain verification that the module's verify
    callback runs on mod_ssl's behalf, which a server without the module
    runs too (without the module in the chain)."""
    total = 0
    counts = {"own": 0, "in_requests": 0, "verification": 0}
    for sample in script.split("\n\n"):
        frames = [line for line in sample.splitlines()[1:] if line.strip()]
        if not frames:
            continue
        total += 1
        first = next((i for i, f in enumerate(frames) if "mod_polyprov.so" in f), None)
        if first is None:
            continue
        if any("X509_verify_cert" in f for f in frames[:first]):
            counts["verification"] += 1
            continue
        counts["own"] += 1
        if any(name in f for f in frames[first:] for name in REQUEST_FRAMES):
            counts["in_requests"] += 1
    return {k: 100.0 * v / total if total else 0.0 for k, v in counts.items()} | {"samples": total}
