#!/usr/bin/python3
"""The allow-list at scale (issue 19): what a large PolyProvACLFile costs a
running server, at start and after one edit.

For each size and each module: apache2 (event MPM, 4 children x 25
threads, Debian's other settings, the module's device check with an ACL of
SIZE `MAC label=phone-N` lines), new TLS connections with a phone's
certificate until every child has served (ab without keep-alive), then the
server's memory: PSS of all its processes (shared pages counted once, in
shares). Then one line is appended to the list, the time until the watcher
says it published it (PP202), traffic again until every child has served,
and the memory once more. For a module that shares the table, also how
many children map the newest table and how long until all did.

usage: bench/acl_scale.py MODULE.so [--baseline OLD.so] [--sizes N,...] [--out OUT.json]
       bench/acl_scale.py --report OUT.json > bench/ACL_SCALE.md
Only 127.0.0.1."""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import common  # noqa: E402

CHILDREN = 4
MPM = (f"StartServers {CHILDREN}\nServerLimit {CHILDREN}\nThreadsPerChild 25\nMinSpareThreads 75\n"
       f"MaxSpareThreads 100\nMaxRequestWorkers 100\nLogLevel warn polyprov:debug\n")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def children_of(server):
    """The serving children: the parent's children but the file watcher
    (the one process that holds a snapshot's descriptor without mapping
    it, or, for a module without snapshots in memfds, the one that never
    opened the listening socket's connections: told apart by its log line)."""
    watcher = {int(p) for p in re.findall(r"PP204 file watcher started \(pid (\d+)\)", server.read_error_log())}
    pids = []
    for pid, fields in common.group_processes(server.proc.pid):
        if int(fields[1]) == server.proc.pid and pid not in watcher:
            try:
                fds = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            except OSError:
                continue
            if any("memfd:polyprov-snapshot" in fd for fd in fds):
                continue   # the watcher
            pids.append(pid)
    return pids


def mapped_tables(pid):
    """The inodes of the snapshots a process maps."""
    inodes = set()
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                if "memfd:polyprov-snapshot" in line:
                    inodes.add(int(line.split()[4]))
    except OSError:
        pass
    return inodes


def traffic(server, phone, connections=400):
    """New connections, each one GET (403: the phone is not on the list)."""
    subprocess.run(["ab", "-q", "-n", str(connections), "-c", "8", "-E", phone["both"],
                    f"https://localhost:{server.port}/000000000000.cfg"],
                   capture_output=True, text=True, timeout=600, check=True)


def pss_mb(server):
    import measure
    return measure.pss_kb(server.proc.pid) / 1024


def one(module, size, site, phone, work, source="file"):
    """source: "file" (PolyProvACLFile) or "sqlite3" (PolyProvACLQuery on an SQLite file)."""
    import servers
    common.use_module(module)
    acl = os.path.join(work, f"acl-{size}.acl")
    query = None
    if source == "file":
        with open(acl, "w") as f:
            f.writelines(f"0004F3{i:06X} label=phone-{i}\n" for i in range(size))
        os.chmod(acl, 0o644)
    else:
        import sqlite3
        db = os.path.join(work, f"acl-{size}.db")
        with sqlite3.connect(db) as c:
            c.execute("CREATE TABLE phones (mac text, label text)")
            c.executemany("INSERT INTO phones VALUES (?, ?)",
                          ((f"0004f3{i:06x}", f"phone-{i}") for i in range(size)))
        os.chmod(db, 0o644)
        query = ("sqlite3", db, "SELECT mac, label FROM phones ORDER BY rowid")
    server = servers.BenchApache("module", site, acl=acl, extra_server=MPM, acl_query=query)
    row = {"module": module, "size": size, "source": source}
    try:
        server.write_config()
        server.start()
        time.sleep(2)
        if query:   # the first run of the query, before any phone
            while "PP202" not in server.log_since(0, wait=0):
                time.sleep(0.05)
        traffic(server, phone)
        time.sleep(1)
        row["children"] = len(children_of(server))
        row["pss_start_mb"] = pss_mb(server)

        mark = server.log_mark()
        edited = time.monotonic()
        if query:
            with sqlite3.connect(query[1]) as c:
                c.execute("INSERT INTO phones VALUES ('0004f4000001', 'new')")
        else:
            with open(acl, "a") as f:
                f.write("0004F4000001 label=new\n")
        while "PP202" not in server.log_since(mark, wait=0):
            if time.monotonic() - edited > 120:
                raise RuntimeError("the edit was never published")
            time.sleep(0.02)
        row["published_s"] = time.monotonic() - edited
        # Until every child has served since (and, where tables are shared,
        # maps the newest one).
        first = None
        for _ in range(20):
            traffic(server, phone)
            maps = {pid: mapped_tables(pid) for pid in children_of(server)}
            newest = max((i for m in maps.values() for i in m), default=None)
            on_newest = sum(1 for m in maps.values() if newest in m)
            if first is None:
                first = on_newest
            if newest is None or on_newest == len(maps):
                break
        row["all_on_new_s"] = time.monotonic() - edited if newest is not None else None
        row["children_on_newest"] = on_newest if newest is not None else None
        time.sleep(1)
        row["pss_after_mb"] = pss_mb(server)
        # httpd's parent lets its startup copy go in its monitor hook, which
        # the MPM runs about every ten seconds.
        time.sleep(12)
        row["pss_settled_mb"] = pss_mb(server)
    finally:
        row["problems"] = server.remove()
    log(f"{os.path.basename(os.path.dirname(os.path.dirname(module)))} {source} {size}: {row}")
    return row


def report(path):
    with open(path) as f:
        r = json.load(f)
    names = {r["rows"][0]["module"]: "this code", r.get("baseline"): "before: a parsed copy per process"}
    out = ["# The allow-list at scale: measured", "",
           f"`bench/acl_scale.py` on {r['machine']}: apache2, event MPM, {CHILDREN} children x 25 threads, the "
           "module's device check with an ACL of N `MAC label=phone-N` lines. Memory is the PSS of all the "
           "server's processes (shared pages counted once, in shares), after every child has served new TLS "
           "connections; then one line is appended to the list and, once every child has served again, the "
           "memory once more, and again 12 s later (httpd's parent lets the copy it loaded at startup go in its "
           "monitor hook, about every 10 s; the children and the watcher let theirs go at once). `published` is from the append to the watcher's PP202 line (it waits for the "
           "file to look the same twice, 0.5 s apart); `every child on it` is until every child maps the new "
           "table. Regenerate: `python3 bench/acl_scale.py build/gcc/.libs/mod_polyprov.so --baseline OLD.so "
           "--out OUT.json` then `--report OUT.json`.", "",
           "| code | devices | PSS at start MB | after one edit, every child on it | 12 s later | the edit costs MB | "
           "published s | every child on it s | children mapping the new table |",
           "|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        on = row["children_on_newest"]
        out.append(f"| {names.get(row['module'], row['module'])} | {row['size']:,} | {row['pss_start_mb']:.0f} | "
                   f"{row['pss_after_mb']:.0f} | {row['pss_settled_mb']:.0f} | "
                   f"{row['pss_settled_mb'] - row['pss_start_mb']:+.0f} | "
                   f"{row['published_s']:.2f} | "
                   + (f"{row['all_on_new_s']:.2f} | {on} of {row['children']} |" if on is not None
                      else "- | - (each parses its own) |"))
    problems = [p for row in r["rows"] for p in row["problems"]]
    out += ["", f"Server log lines at error or worse: {len(problems)}."]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--report":
        sys.stdout.write(report(sys.argv[2]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("module")
    ap.add_argument("--baseline")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--out", default="/tmp/acl_scale.json")
    ap.add_argument("--source", default="file", choices=["file", "sqlite3"])
    args = ap.parse_args()
    import phone_pki
    import servers
    import measure
    pki = phone_pki.load(8)
    site = servers.Site(pki, 8)
    work = tempfile.mkdtemp(prefix="polyprov-acl-scale-")
    os.chmod(work, 0o755)
    modules = [os.path.abspath(args.module)] + ([os.path.abspath(args.baseline)] if args.baseline else [])
    rows = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            for module in modules:
                rows.append(one(module, size, site, pki["phones"][0], work, args.source))
    finally:
        site.remove()
        subprocess.run(["rm", "-rf", work])
    machine = measure.machine()
    with open(args.out, "w") as f:
        json.dump({"machine": f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores",
                   "baseline": modules[1] if args.baseline else None, "rows": rows}, f, indent=1)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
