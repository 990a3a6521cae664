"""The polyprov command-line tool: same core, same answers as the module."""

import os
import re
import subprocess

import pytest

CLI = os.environ.get("POLYPROV_CLI", "")
SRC = os.environ.get("POLYPROV_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def run(*args):
    if not CLI or not os.path.exists(CLI):
        pytest.fail(f"POLYPROV_CLI must name the built tool (got {CLI!r}); run through make check")
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_acl_check(tmp_path):
    good = write(tmp_path, "good.acl", "# fleet\n0004F2000001 label=desk\n00:04:f2:00:00:02\n")
    assert run("acl", "check", good) == (0, f"{good}: 2 devices, valid\n", "")
    bad = write(tmp_path, "bad.acl", "0004F2000001\n0004F2000001\n")
    rc, out, err = run("acl", "check", bad)
    assert rc == 1 and err == f"{bad}:2: duplicate MAC 0004F2000001 (first on line 1)\n"
    assert run("acl", "check", str(tmp_path / "missing.acl"))[0] == 2


def test_acl_check_runs_a_query_as_the_module_would(tmp_path):
    import sqlite3
    db = str(tmp_path / "phones.db")
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE phones (id integer, mac text, label text, pin text)")
        c.executemany("INSERT INTO phones VALUES (?, ?, ?, ?)", [
            (1, "0004f2000001", "desk", None),
            (2, "00:04:F2:00:00:02", "", ""),
            (3, "zz", None, None),
            (4, "0004F2000001", "again", None),
            (5, "0004f2000003", None, "abcd"),
        ])
    query = "SELECT mac, label, pin FROM phones ORDER BY id"
    rc, out, err = run("acl", "check", "--dbd", "sqlite3", db, "--query", query)
    assert rc == 1
    assert out == "PolyProvACLQuery: 2 devices, 3 rows left out\n"
    assert err.splitlines() == [
        "row 3: 'zz': not a MAC address (12 hex digits, or 00:04:f2:.., 00-04-F2-.., 0004.f2..); left out",
        "row 4: '0004F2000001': duplicate MAC 0004F2000001: row 1 kept; left out",
        "row 5: 'abcd': not a SHA-256 pin (64 hex digits, colons between pairs allowed) for device 0004F2000003; "
        "left out",
    ]
    assert run("acl", "check", "--dbd", "sqlite3", db, "--query", "SELECT mac FROM phones WHERE id < 3") == \
        (0, "PolyProvACLQuery: 2 devices, 0 rows left out\n", "")
    rc, _, err = run("acl", "check", "--dbd", "sqlite3", db, "--query", "SELECT nonsense FROM phones")
    assert rc == 1 and err == "PolyProvACLQuery: the query fails: no such column: nonsense\n"
    rc, _, err = run("acl", "check", "--dbd", "sqlite3", str(tmp_path / "none.db"), "--query", query)
    assert rc == 1 and "none.db: no such database file" in err
    assert not os.path.exists(tmp_path / "none.db"), "SQLite must not be left to create an empty database"
    rc, _, err = run("acl", "check", "--dbd", "sqlite3", db, "--query", "SELECT id, mac, label, pin FROM phones")
    assert rc == 1 and "the query returns 4 columns; it must return 1 to 3" in err
    for driver in ("nosuch", "mysql"):   # mysql: APR's driver reads no row of a whole result one by one
        rc, _, err = run("acl", "check", "--dbd", driver, "x", "--query", query)
        assert rc == 1 and "not a driver PolyProvACLQuery reads lists with (sqlite3, pgsql)" in err, err
    # A relative name that is no file: SQLite must not create one.
    rc, _, err = subprocess.run([CLI, "acl", "check", "--dbd", "sqlite3", "rel.db", "--query", query], cwd=tmp_path,
                                capture_output=True, text=True).returncode, None, None
    assert rc == 1 and not os.path.exists(tmp_path / "rel.db")
    # A password in DBDParams never reaches a message, even where the driver quotes the string.
    for params in ("host=127.0.0.1 port=1 password:Hunter2", "host=127.0.0.1 port=1 password='Hunter%zz2'",
                   "postgresql://u:Hunter3@[::1/db?sslmode=require",        # libpq quotes a bad URI whole
                   "host=127.0.0.1 port=1 password=e"):                      # a secret found in "(hidden)" itself
        rc, out, err = run("acl", "check", "--dbd", "pgsql", params, "--query", query)
        assert rc == 1 and "Hunter" not in out + err and "cannot connect" in err, err
    assert run("acl", "check", "--dbd", "sqlite3", db)[0] == 2
    assert run("acl", "check", "--dbd", "sqlite3")[0] == 2


def test_acl_pin_makes_a_line_the_module_accepts(pki, tmp_path):
    d = pki["devices"]["self_signed"]
    rc, out, _ = run("acl", "pin", d["cert"], "--label", "old phone")
    assert rc == 0
    assert out == f'0004F200000C label="old phone" sha256={d["sha256"]}\n'
    acl = write(tmp_path, "pinned.acl", out)
    assert run("acl", "check", acl)[0] == 0
    # The pinned line lets check-cert (the module's decision) admit the phone.
    rc, out, _ = run("check-cert", d["cert"], "--anchors", pki["anchors"], "--ca", pki["ca_bundle"], "--acl", acl)
    assert rc == 0 and "pinned: this certificate" in out and "decision:     allow" in out


def test_acl_pin_needs_one_mac(pki):
    rc, _, err = run("acl", "pin", pki["devices"]["cn_two_macs"]["cert"])
    assert rc == 1 and "names no single MAC" in err


@pytest.mark.parametrize("device", ["cn_two_cns", "cn_nul"])
def test_acl_pin_refuses_a_subject_with_two_readings_and_prints_it_escaped(pki, device):
    rc, out, err = run("acl", "pin", pki["devices"][device]["cert"])
    assert rc == 1 and out == ""
    assert "names no single MAC (the subject has no single valid CN)" in err, err
    assert "\0" not in err and err.count("\n") == 1, "a raw NUL or a second line reached the terminal"
    if device == "cn_nul":
        assert "\\x00" in err, err


@pytest.mark.parametrize("device,mode,rc,says", [
    ("valid", "leaf", 0, "chain:        verifies: SSL_CLIENT_VERIFY=SUCCESS"),
    ("expired", "leaf", 0, "with the expiry of the certificate waived (PolyProvAcceptExpired leaf)"),
    ("expired", "off", 1, "does not verify: certificate has expired (depth 0)"),
    ("expired_under_retired_ca", "leaf", 1, "an expired issuing CA needs PolyProvAcceptExpired chain"),
    ("expired_under_retired_ca", "chain", 0, "with the expiry of the issuing CA waived (PolyProvAcceptExpired chain)"),
    ("not_yet_valid", "chain", 1, "certificate is not yet valid"),
    ("bad_signature_expired", "chain", 1, "certificate signature failure"),
    ("impostor_expired", "chain", 1, "does not verify"),
    ("self_signed_expired", "chain", 1, "does not verify"),
    ("other_ca_expired", "chain", 1, "does not verify: certificate has expired"),
])
def test_check_cert_matches_the_waiver(pki, device, mode, rc, says):
    got_rc, out, err = run("check-cert", pki["devices"][device]["cert"], "--anchors", pki["anchors"],
                           "--ca", pki["ca_bundle_with_other"], "--mode", mode)
    assert got_rc == rc, out + err
    assert says in out, out
    assert f"MAC:          {pki['devices'][device]['mac']}" in out


def test_check_cert_with_an_acl(pki, tmp_path):
    acl = write(tmp_path, "fleet.acl", "0004F2000001 label=desk\n")
    args = ["--anchors", pki["anchors"], "--ca", pki["ca_bundle"], "--acl", acl]
    rc, out, _ = run("check-cert", pki["devices"]["valid"]["cert"], *args)
    assert rc == 0 and 'listed on line 1, label "desk"' in out
    rc, out, _ = run("check-cert", pki["devices"]["valid_ca2"]["cert"], *args)
    assert rc == 1 and "not listed" in out and "deny:not-in-acl" in out


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["check-cert", "x.pem"], ["acl", "pin"],
                                  ["check-cert", "x.pem", "--anchors"], ["acl", "check", "a", "--bogus", "1"]])
def test_usage_errors_exit_2(args):
    assert run(*args)[0] == 2


def test_help_and_man_page_agree():
    rc, out, _ = run("--help")
    assert rc == 0
    commands = re.findall(r"^  ((?:acl \w+|[a-z-]+))\b", out, re.M)
    assert set(commands) == {"acl check", "acl pin", "check-cert", "fetch-ca", "fetch-crl", "check-crl", "fleet",
                             "help"}
    with open(os.path.join(SRC, "man", "polyprov.1")) as f:
        man = f.read().replace("\\-", "-")
    for c in commands:
        assert re.search(rf"\.B polyprov {c}\b", man), c
    options = set(re.findall(r"--[a-z0-9-]+", out))
    assert {"--root-sha256", "--timeout", "--out", "--from", "--ca", "--history", "--min-valid", "--warn"} <= options
    for option in options:
        assert re.search(rf"^\.BI? {re.escape(option)}\b", man, re.M), option
