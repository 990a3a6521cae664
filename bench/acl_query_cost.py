#!/usr/bin/python3
"""What one run of a PolyProvACLQuery costs (issue 19): connecting, the
query, reading every row and compiling the list, for 10,000, 100,000 and
1,000,000 rows on SQLite and on PostgreSQL.

Timed through `polyprov acl check --dbd`, which runs the module's own code
for a run (mod_polyprov/apr/dbd_rows.cpp, then acl_from_rows): wall time and
the process's peak memory (max RSS), minus what the tool costs with no rows
(the same query on an empty table, measured the same way). Rounds alternate
between the two databases; medians of 5, with min and max.

usage: bench/acl_query_cost.py POLYPROV_CLI [--sizes N,...] [--rounds 5] [--out OUT.json]
       bench/acl_query_cost.py --report OUT.json     (markdown for bench/RESULTS.md)
Only 127.0.0.1: the PostgreSQL server is started here on a loopback port and stopped by PID."""

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.dont_write_bytecode = True

from harness.databases import PostgresDatabase  # noqa: E402

QUERY = "SELECT mac, label FROM phones WHERE enabled ORDER BY id"


def fill_sqlite(path, size):
    if os.path.exists(path):
        os.remove(path)
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE phones (id integer primary key, mac text, label text, enabled boolean)")
        c.executemany("INSERT INTO phones (mac, label, enabled) VALUES (?, ?, 1)",
                      ((f"0004f3{i:06x}", f"phone-{i}") for i in range(size)))
    os.chmod(path, 0o644)


def fill_pgsql(db, size):
    db._psql("DROP TABLE IF EXISTS phones; CREATE TABLE phones (id serial primary key, mac text, label text, "
             "enabled boolean); "
             f"INSERT INTO phones (mac, label, enabled) SELECT '0004f3' || lpad(to_hex(i), 6, '0'), "
             f"'phone-' || i, true FROM generate_series(0, {size - 1}) AS i")
    db._psql("VACUUM ANALYZE phones")   # not inside the transaction psql makes of several statements


def one_run(cli, driver, params, query=QUERY):
    start = time.monotonic()
    p = subprocess.run([cli, "acl", "check", "--dbd", driver, params, "--query", query],
                       capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    if p.returncode != 0:
        raise RuntimeError(f"{driver}: {p.stderr or p.stdout}")
    return seconds, p.stdout.strip()


def maxrss_of(cli, driver, params, query=QUERY):
    """Peak RSS of one run, in MB, by /usr/bin/time."""
    p = subprocess.run(["/usr/bin/time", "-f", "%M", cli, "acl", "check", "--dbd", driver, params, "--query", query],
                       capture_output=True, text=True, timeout=600)
    return int(p.stderr.strip().splitlines()[-1]) / 1024


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--report":
        print(report(sys.argv[2]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="/tmp/acl_query_cost.json")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="polyprov-query-cost-")
    db = PostgresDatabase(work)
    db.start()
    rows = []
    try:
        path = os.path.join(work, "phones.db")
        sources = {"sqlite3": path, "pgsql": db.params}
        for size in [0] + [int(s) for s in args.sizes.split(",")]:
            fill_sqlite(path, max(size, 0))
            fill_pgsql(db, size) if size else db._psql("DROP TABLE IF EXISTS phones; CREATE TABLE phones "
                                                       "(id serial primary key, mac text, label text, enabled boolean)")
            times = {d: [] for d in sources}
            said = {}
            for _ in range(args.rounds):
                for driver, params in sources.items():   # alternating
                    seconds, out = one_run(args.cli, driver, params)
                    times[driver].append(seconds)
                    said[driver] = out
            for driver, params in sources.items():
                t = times[driver]
                rows.append({"driver": driver, "size": size, "median_s": statistics.median(t), "min_s": min(t),
                             "max_s": max(t), "maxrss_mb": maxrss_of(args.cli, driver, params),
                             "said": said[driver]})
                print(rows[-1], flush=True)
    finally:
        db.close()
        subprocess.run(["rm", "-rf", work])
    with open(args.out, "w") as f:
        json.dump({"rounds": args.rounds, "rows": rows}, f, indent=1)


def report(path):
    with open(path) as f:
        r = json.load(f)
    empty = {row["driver"]: row for row in r["rows"] if row["size"] == 0}
    out = ["| database | rows | one run: median s (min-max) | minus the tool alone s | peak RSS MB | "
           "minus the tool alone MB |", "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        if row["size"] == 0:
            continue
        e = empty[row["driver"]]
        out.append(f"| {row['driver']} | {row['size']:,} | {row['median_s']:.3f} ({row['min_s']:.3f}-"
                   f"{row['max_s']:.3f}) | {row['median_s'] - e['median_s']:.3f} | {row['maxrss_mb']:.0f} | "
                   f"{row['maxrss_mb'] - e['maxrss_mb']:.0f} |")
    return "\n".join(out) + f"\n\n{r['rounds']} rounds each, alternating between the two databases.\n"


if __name__ == "__main__":
    main()
