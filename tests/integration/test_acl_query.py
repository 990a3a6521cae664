"""The allow-list from the operator's database (PolyProvACLQuery, issue 19):
a real apache2 whose list is a query on a real SQLite file or a real
PostgreSQL server. Rows are added, changed and removed while it runs, and
every child must answer from the new list within the refresh interval plus
2 s; bad rows are left out and logged; the database goes away and comes
back while phones are served from the last good list; a first start with
the database down answers 503 with Retry-After until it answers.

The tests of one server run in order: each starts where the one before
left the database."""

import os
import re
import shutil
import time

import pytest

from harness import children, many_phones
from harness.apache import Apache, new_server_root
from harness.databases import QUERY, PostgresDatabase, SqliteDatabase
from harness.phone import Phone
from harness.vhosts import tls_vhost

ME, OTHER = "0004F2000001", "64167F000002"
REFRESH = 1        # PolyProvACLRefresh in these tests, seconds
SEEN_WITHIN = REFRESH + 2
FILLER = 5000      # rows of other devices, so every refresh reads a list of some size
MANY = 2000        # phones with certificates of their own, for the list at scale

MPM_SETTINGS = {
    "prefork": "StartServers 3\nMinSpareServers 3\nMaxSpareServers 3\nServerLimit 3\nMaxRequestWorkers 3\n",
    "event": "StartServers 2\nServerLimit 2\nThreadsPerChild 8\nMaxRequestWorkers 16\n"
             "MinSpareThreads 16\nMaxSpareThreads 16\n",
}


@pytest.fixture(scope="module")
def many(pki, tmp_path_factory):
    """MANY phone certificates (CN = a MAC each), shared by both databases' servers."""
    out = str(tmp_path_factory.mktemp("query-phones"))
    phone_set = many_phones.generate(pki, out, MANY)
    yield phone_set
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module", params=[("sqlite3", "prefork"), ("pgsql", "event")], ids=["sqlite3", "pgsql"])
def server(request, pki):
    driver, mpm = request.param
    apache = Apache(new_server_root(), mpm=mpm)
    root = apache.root
    with open(os.path.join(root, "htdocs", "000000000000.cfg"), "w") as f:
        f.write("shared\n")
    db = SqliteDatabase(root) if driver == "sqlite3" else PostgresDatabase(root)
    apache.db = db
    apache.pid_log = os.path.join(root, "logs", "pid.log")
    dbd = f"    DBDriver {db.driver}\n    DBDParams \"{db.params}\"\n    DBDPersist Off\n"
    body = (f"    CustomLog {apache.pid_log} {children.PID_LOG_FORMAT}\n"
            f"    <Directory {root}/htdocs>\n"
            f"        PolyProvACLQuery \"{QUERY}\"\n"
            f"        PolyProvACLRefresh {REFRESH}s\n"
            f"    </Directory>\n")
    # SQLite's settings at the top level, PostgreSQL's in the vhost: both places mod_dbd reads.
    top = dbd if driver == "sqlite3" else ""
    vhosts = (MPM_SETTINGS[mpm] + "KeepAliveTimeout 120\nMaxKeepAliveRequests 0\n" + top +
              tls_vhost(apache.port, "query.test", pki, verify="require",
                        extra=(dbd if driver == "pgsql" else "") + body))
    apache.allow_log(r"PP211 ")   # the outages this file provokes; each is counted
    apache.allow_log(r"AH00161: server reached MaxRequestWorkers")
    apache.allow_log(r"AH10159: server is within MinSpareThreads of MaxRequestWorkers")
    # The database is down (PostgreSQL: not started; SQLite: no file yet) when the server starts.
    try:
        apache.start(vhosts, extra_modules=("dbd",))
        yield apache
        apache.stop()   # fails on what its log says that nobody expected
    finally:
        db.close()      # whatever happened: no database server outlives the test
        if not os.environ.get("POLYPROV_KEEP"):
            shutil.rmtree(root, ignore_errors=True)


def phones_on_every_child(server, pki, device="valid"):
    """Keep-alive connections of `device`, one to each child."""
    return list(children.phones_on_every_child(server, pki["devices"][device], pki["server_ca"],
                                               3 if server.mpm == "prefork" else 2, tag=f"probe{device}").values())


def answers(phones):
    out = []
    for p in phones:
        status, headers, _ = p.request("GET", "/000000000000.cfg")
        label = headers.get("x-label", "")
        # "(null)": mod_headers' word for an unset variable
        out.append((status, "" if label == "(null)" else label, headers.get("x-decision", "")))
    return out


def every_child_within(phones, want, seconds=SEEN_WITHIN):
    """Waits until every child answers `want` ((status, label, decision)); fails after `seconds`."""
    start = time.monotonic()
    while True:
        got = answers(phones)
        if all(g == want for g in got):
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            raise AssertionError(f"after {seconds} s the children answer {got}, not {want}")
        time.sleep(0.1)


def lines(server, mark, tag):
    return [line for line in server.log_since(mark).splitlines() if tag in line]


def test_a_first_start_with_the_database_down_answers_503_until_it_answers(server, pki):
    phone = Phone(server.port, pki["devices"]["valid"], pki["server_ca"])
    status, headers, _ = phone.request("GET", "/000000000000.cfg")
    assert status == 503
    assert headers.get("retry-after") == "5"
    assert headers.get("x-decision") == "deny:error"
    time.sleep(3 * REFRESH)   # runs that fail while nothing was ever read: said once
    outage = lines(server, 0, "PP211")
    assert len(outage) == 1, outage
    assert "no list yet: devices get 503 until the query answers" in outage[0]
    if server.db.driver == "pgsql":
        assert server.db.params not in outage[0]   # DBDParams may hold a password: never logged

    mark = server.log_mark()
    if server.db.driver == "pgsql":
        server.db.start()
        server.db.create(filler=FILLER)
        server.db.execute("INSERT INTO v_devices VALUES (?, ?, NULL, 'true', 1)", (ME.lower(), "desk"))
    else:
        server.db.create(filler=FILLER)
        server.db.execute("INSERT INTO v_devices VALUES (?, ?, NULL, 'true', 1)", (ME.lower(), "desk"))
    # The query is asked again within 5 s while it fails, then at the interval.
    every_child_within(phones_on_every_child(server, pki), (200, "desk", "allow"), seconds=5 + SEEN_WITHIN)
    assert len(lines(server, mark, "PP212")) == 1
    reloaded = lines(server, mark, "PP202")
    # (A run may have come between the table's rows and this phone's.)
    assert re.search(rf"reloaded PolyProvACLQuery at .*httpd\.conf:\d+: {FILLER + 1} devices", reloaded[-1]), reloaded


def test_rows_added_changed_and_removed_reach_every_child(server, pki):
    phones = phones_on_every_child(server, pki)
    db = server.db
    every_child_within(phones, (200, "desk", "allow"))
    timings = {}

    db.execute("UPDATE v_devices SET device_label = ? WHERE device_mac_address = ?", ("lobby phone", ME.lower()))
    timings["label"] = every_child_within(phones, (200, "lobby phone", "allow"))

    db.execute("UPDATE v_devices SET device_enabled = 'false' WHERE device_mac_address = ?", (ME.lower(),))
    timings["removed"] = every_child_within(phones, (403, "", "deny:not-in-acl"))

    # Added back in another notation the file also takes, with a pin to another certificate: refused.
    db.execute("DELETE FROM v_devices WHERE device_mac_address = ?", (ME.lower(),))
    db.execute("INSERT INTO v_devices VALUES (?, ?, ?, 'true', 1)",
               ("00:04:f2:00:00:01", "desk", pki["devices"]["self_signed"]["sha256"]))
    timings["pinned elsewhere"] = every_child_within(phones, (403, "", "deny:unverified"))

    db.execute("UPDATE v_devices SET device_pin = ? WHERE device_mac_address = ?",
               (pki["devices"]["valid"]["sha256"], "00:04:f2:00:00:01"))
    timings["pinned to it"] = every_child_within(phones, (200, "desk", "allow"))
    print("seen by every child after (s):", {k: round(v, 2) for k, v in timings.items()})


def test_bad_rows_are_left_out_and_logged_with_row_and_value(server, pki):
    db = server.db
    other = Phone(server.port, pki["devices"]["valid_ca2"], pki["server_ca"])
    db.execute("INSERT INTO v_devices VALUES (?, NULL, NULL, 'true', 2)", (OTHER,))
    deadline = time.monotonic() + SEEN_WITHIN
    while other.request("GET", "/000000000000.cfg")[0] != 200:
        assert time.monotonic() < deadline, "the added device was never let in"
        time.sleep(0.1)

    mark = server.log_mark()
    # Row 2 (by position): OTHER's pin does not parse, so OTHER is left out, not let in unpinned.
    db.execute("UPDATE v_devices SET device_pin = ? WHERE device_mac_address = ?", ("abcd", OTHER))
    db.execute("INSERT INTO v_devices VALUES (?, NULL, NULL, 'true', 3)", ("not-a-mac",))
    # The same device again, with the same pin as its first row (another pin would refuse it).
    db.execute("INSERT INTO v_devices VALUES (?, ?, ?, 'true', 4)", (ME, "second row", pki["devices"]["valid"]["sha256"]))
    db.execute("INSERT INTO v_devices VALUES (NULL, NULL, NULL, 'true', 5)")
    deadline = time.monotonic() + SEEN_WITHIN
    while other.request("GET", "/000000000000.cfg")[0] != 403:
        assert time.monotonic() < deadline, "a device with a pin that does not parse was let in"
        time.sleep(0.1)
    me = Phone(server.port, pki["devices"]["valid"], pki["server_ca"])
    status, headers, _ = me.request("GET", "/000000000000.cfg")
    assert (status, headers.get("x-label")) == (200, "desk"), "a duplicate must keep its first row"

    time.sleep(REFRESH + 0.5)
    problems = lines(server, mark, "PP210")
    assert any(re.search(r"row 2: 'abcd': not a SHA-256 pin \(64 hex digits.*\) for device 64167F000002; left out", p)
               for p in problems), problems
    assert any(re.search(r"row 3: 'not-a-mac': not a MAC address", p) for p in problems), problems
    assert any(re.search(r"row 4: '0004F2000001': duplicate MAC 0004F2000001: row 1 kept", p) for p in problems)
    assert any(re.search(r"row 5: 'NULL': the MAC is NULL", p) for p in problems), problems
    # Once per refresh: as many reports of row 3 as refreshes since (a few), not one per request.
    assert 1 <= sum("row 3:" in p for p in problems) <= 6
    db.execute("DELETE FROM v_devices WHERE position IN (2, 3, 4, 5)")


def test_the_database_gone_and_back_while_phones_are_served(server, pki):
    phones = phones_on_every_child(server, pki)
    every_child_within(phones, (200, "desk", "allow"))
    mark = server.log_mark()
    server.db.stop()
    for _ in range(int(4 * REFRESH / 0.2)):   # several refreshes fail meanwhile
        assert answers(phones) == [(200, "desk", "allow")] * len(phones)
        time.sleep(0.2)
    outage = lines(server, mark, "PP211")
    assert len(outage) == 1, outage
    assert "every process keeps the last good list" in outage[0]

    # A graceful restart meanwhile: the new generation starts from the list in force.
    for p in phones:   # prefork: their children may not leave while they hold them
        p.close()
    server.graceful()
    phone = Phone(server.port, pki["devices"]["valid"], pki["server_ca"])
    status, headers, _ = phone.request("GET", "/000000000000.cfg")
    phone.close()
    assert (status, headers.get("x-label")) == (200, "desk")

    server.db.start()
    server.db.execute("UPDATE v_devices SET device_label = ? WHERE device_mac_address = ?",
                      ("back", "00:04:f2:00:00:01"))
    every_child_within(phones_on_every_child(server, pki), (200, "back", "allow"), seconds=5 + SEEN_WITHIN)
    assert len(lines(server, mark, "PP212")) >= 1   # once per outage, and per configuration generation


def test_thousands_of_phones_each_answered_by_its_own_row(server, many):
    """Every phone of MANY, each with its own certificate, let in by its row;
    then every other row disabled, and exactly those phones refused."""
    db = server.db
    db.add_devices([mac.lower() for mac in many.macs], 10)   # as FusionPBX writes MACs: lower case
    probe = many.phones[-1]

    def status_of(phone):
        mac, cert = phone
        return many_phones.one_phone(server.port, mac, cert, many.key, many.server_ca, "/000000000000.cfg")

    deadline = time.monotonic() + SEEN_WITHIN
    while status_of(probe)[0] != 200:
        assert time.monotonic() < deadline, "the phones' rows were not published in time"
        time.sleep(0.2)
    served = many_phones.serve(server.port, many)
    assert served.statuses == {200: MANY} and served.wrong_mac == 0, served.failures

    off = many.phones[::2]
    db.execute("UPDATE v_devices SET device_enabled = 'false' WHERE position >= 10 AND position % 2 = 0")
    deadline = time.monotonic() + SEEN_WITHIN
    while status_of(off[-1])[0] != 403:
        assert time.monotonic() < deadline, "the disabled rows were not published in time"
        time.sleep(0.2)
    refused = many_phones.serve(server.port, many, phones=off)
    assert refused.statuses == {403: len(off)}, refused.failures
    kept = many_phones.serve(server.port, many, phones=many.phones[1::2])
    assert kept.statuses == {200: MANY - len(off)}, kept.failures
    print(f"{MANY} phones: {served.rate:.0f} handshakes/s; {len(off)} refused after their rows were disabled")


# Three names the test PKI's server certificate holds.
A, B, C = "leaf-polycom.test", "leaf-polycom-b.test", "stock.test"


def test_two_vhosts_share_one_run_and_two_nodes_each_follow_the_database(pki):
    """Two virtual hosts naming one query on one database share one list
    and one run per change (one PP202, not one per vhost); a third with
    another query has its own. A second server (another node) on the same
    database sees the same change within the same bound."""
    db_dir = new_server_root()   # a directory the servers' User can read
    db = SqliteDatabase(db_dir)
    db.create()
    db.execute("INSERT INTO v_devices VALUES (?, ?, NULL, 'true', 1)", (ME.lower(), "desk"))
    other_query = QUERY.replace("ORDER BY", "AND device_label = 'lobby' ORDER BY")
    nodes = []
    try:
        for mpm in ("event", "prefork"):
            node = Apache(new_server_root(), mpm=mpm)
            with open(os.path.join(node.root, "htdocs", "000000000000.cfg"), "w") as f:
                f.write("shared\n")

            def section(query):
                return (f"    <Directory {node.root}/htdocs>\n        PolyProvACLQuery \"{query}\"\n"
                        f"        PolyProvACLRefresh {REFRESH}s\n    </Directory>\n")

            dbd = f"DBDriver sqlite3\nDBDParams \"{db.params}\"\nDBDPersist Off\n"
            # One port, three name-based vhosts: the phones choose by SNI and Host.
            vhosts = dbd
            for name, query in ((A, QUERY), (B, QUERY), (C, other_query)):
                vhosts += tls_vhost(node.port, name, pki, verify="require", extra=section(query))
            node.allow_log(r"AH00161: server reached MaxRequestWorkers")
            node.start(vhosts, extra_modules=("dbd",))
            nodes.append(node)

        def status(node, host):
            phone = Phone(node.port, pki["devices"]["valid"], pki["server_ca"], host=host)
            try:
                return phone.request("GET", "/000000000000.cfg")[0]
            finally:
                phone.close()

        def all_answer(want, seconds=SEEN_WITHIN):
            start = time.monotonic()
            while True:
                got = {(n.mpm, h): status(n, h) for n in nodes for h in (A, B, C)}
                if got == want:
                    return
                assert time.monotonic() - start < seconds, f"{got} after {seconds} s, not {want}"
                time.sleep(0.1)

        every = {(n.mpm, h): (200 if h != C else 403) for n in nodes for h in (A, B, C)}
        all_answer(every, seconds=5 + SEEN_WITHIN)
        marks = [n.log_mark() for n in nodes]
        db.execute("UPDATE v_devices SET device_label = 'lobby' WHERE device_mac_address = ?", (ME.lower(),))
        all_answer({k: 200 for k in every})
        db.execute("UPDATE v_devices SET device_enabled = 'false' WHERE device_mac_address = ?", (ME.lower(),))
        all_answer({k: 403 for k in every})
        time.sleep(REFRESH + 0.5)
        for node, mark in zip(nodes, marks):
            reloads = [line for line in node.log_since(mark).splitlines() if "PP202" in line]
            shared = [line for line in reloads if f"httpd.conf:{query_line(node, A)}:" in line]
            alone = [line for line in reloads if f"httpd.conf:{query_line(node, C)}:" in line]
            # Two changes: the label (shared list only), then the removal (both lists).
            assert len(shared) == 2, reloads
            assert len(alone) == 2, reloads   # ME entered c.test's list with the label, then left it
            assert not [line for line in reloads if f"httpd.conf:{query_line(node, B)}:" in line]
    finally:
        problems = []
        for node in nodes:   # every one stopped, even when one's stop reports a problem
            try:
                node.stop()
            except AssertionError as e:
                problems.append(str(e))
            if not os.environ.get("POLYPROV_KEEP"):
                shutil.rmtree(node.root, ignore_errors=True)
        shutil.rmtree(db_dir, ignore_errors=True)
    assert not problems, "\n".join(problems)


def query_line(node, host):
    """The line of the PolyProvACLQuery in `host`'s vhost."""
    with open(node.conf) as f:
        lines = f.read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"ServerName {host}")
    return next(i for i in range(start, len(lines)) if "PolyProvACLQuery" in lines[i]) + 1
