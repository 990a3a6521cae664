"""The fleet view on one server (PolyProvFleet shmcb), prefork and event: a
scripted fleet of test phones (valid, expired and waived, pinned
self-signed, not on the ACL, forged, probing another phone's file, several
User-Agents including a hostile one, an upload) talks to a real apache2,
and the status handler's JSON holds exactly what happened; the page, its
counters, its access control, mod_status's summary, and a graceful restart."""

import datetime
import os
import re
import shutil
import subprocess

import pytest
from cryptography import x509

from harness.apache import Apache, new_server_root
from harness.fleet import (EDGE, FLEET_MODULES, EXPIRED, FORGED, HOSTILE, LOWER, ME, OTHER, PINNED, SOUNDPOINT, UNLISTED,
                           UPLOAD_BYTES, VVX, by_mac, counters, fetch, fleet_json, fleet_site, run_script,
                           socache_load_line, wait_for)


def iso(text):
    return int(datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp())


def not_after(pki, device):
    with open(pki["devices"][device]["leaf_only"], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return cert.not_valid_after.strftime("%Y-%m-%dT%H:%M:%SZ")  # naive, in UTC (cryptography 38)


@pytest.fixture(scope="module", params=["event", "prefork"])
def server(request, pki):
    apache = Apache(new_server_root(), mpm=request.param)
    status = """
    <Location /fleet-operators>
        SetHandler polyprov-status
        PolyProvRequireDevice off
        Require expr %{SSL_CLIENT_VERIFY} == 'SUCCESS'
    </Location>
    <Location /server-status>
        SetHandler server-status
        PolyProvRequireDevice off
        Require all granted
    </Location>
"""
    fleet_line = socache_load_line("shmcb") + f"PolyProvFleet shmcb:{apache.root}/run/fleet(2097152)\n"
    try:
        apache.start(fleet_site(apache.root, apache.port, pki, fleet_line, status_extra=status),
                     extra_modules=FLEET_MODULES + ("status",))
        apache.window = run_script(apache.port, pki)
        yield apache
    finally:
        apache.stop()
    log = apache.read_error_log()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(apache.root, ignore_errors=True)
    assert not re.search(r"\[polyprov:(error|crit|alert|emerg)\]|PP9\d\d|PP549|exit signal", log), \
        "unexpected errors in the error log"


def get(server, path, pki, **kw):
    return fetch(server.port, path, cacert=pki["server_ca"], **kw)


def recorded(server, pki):
    """The JSON once every scripted request is in it (the updater writes about once a second)."""
    def complete():
        doc = fleet_json(server.port, cacert=pki["server_ca"])
        devices = by_mac(doc["devices"])
        done = (set(devices) == {ME, EXPIRED, PINNED, LOWER} and devices[ME]["last_request"]["method"] == "PUT"
                and len(doc["refused"]) == 2 and doc["probes"] and doc["probes"][0]["count"] == 3)
        return done, doc
    return wait_for("the scripted fleet in the JSON", complete)


def test_json_holds_exactly_what_happened(server, pki):
    doc = recorded(server, pki)
    start, end = server.window
    assert list(doc) == ["generated", "node", "total", "offset", "limit", "capacity", "devices", "refused", "probes"]
    assert (doc["total"], doc["offset"], doc["limit"]) == (len(doc["devices"]), 0, None)
    assert doc["capacity"]["complete"] is True, doc["capacity"]
    assert doc["node"].endswith(f":{server.port}")
    assert start <= iso(doc["generated"]) <= end + 30
    devices = by_mac(doc["devices"])
    for d in devices.values():
        assert start <= iso(d["first_seen"]) <= iso(d["last_seen"]) <= end, d

    me = devices[ME]
    assert me["label"] == "desk"
    assert (me["model"], me["firmware"], me["user_agent"]) == ("VVX_500", "5.9.7.4477", VVX)
    assert me["last_request"] == {"method": "PUT", "path": f"/logs/{ME}-app.log", "status": 201, "decision": "allow"}
    assert me["last_config_fetch"] is not None and start <= iso(me["last_config_fetch"]) <= end
    assert me["last_upload"]["bytes"] == UPLOAD_BYTES and start <= iso(me["last_upload"]["time"]) <= end
    assert me["address"] == "127.0.0.1"
    assert me["cert_not_after"] == not_after(pki, "valid")
    assert (me["cert_expired"], me["waived"], me["pinned"]) == (False, False, False)
    assert me["denials"] == {"mac-mismatch": 3}

    old = devices[EXPIRED]
    assert old["label"] == "Room 12"
    assert (old["model"], old["firmware"]) == ("SPIP_550", "4.0.15.1047")
    assert old["user_agent"] == SOUNDPOINT
    assert (old["cert_expired"], old["waived"], old["pinned"]) == (True, True, False)
    assert old["cert_not_after"] == not_after(pki, "expired")
    assert old["last_upload"] == {"time": None, "bytes": None}
    assert old["denials"] == {}

    pinned = devices[PINNED]
    assert (pinned["model"], pinned["firmware"]) == ("Edge_E450", "8.0.1.0123")
    assert (pinned["cert_expired"], pinned["waived"], pinned["pinned"]) == (False, False, True)
    assert pinned["cert_not_after"] == not_after(pki, "self_signed")

    lobby = devices[LOWER]
    assert lobby["user_agent"] == HOSTILE  # kept as text
    assert (lobby["model"], lobby["firmware"]) == (None, None)
    assert lobby["label"] == "lobby"

    refused = {(r["mac"], r["reason"]): r for r in doc["refused"]}
    assert set(refused) == {(UNLISTED, "not-in-acl"), (FORGED, "unverified")}
    assert refused[(UNLISTED, "not-in-acl")]["count"] == 2
    assert refused[(FORGED, "unverified")]["count"] == 1
    for r in refused.values():
        assert r["address"] == "127.0.0.1" and start <= iso(r["last_seen"]) <= end
    # Neither an unlisted nor a forged certificate makes a device.
    assert UNLISTED not in devices and FORGED not in devices

    assert len(doc["probes"]) == 1
    probe = doc["probes"][0]
    assert (probe["mac"], probe["address"], probe["path"], probe["count"]) == (ME, "127.0.0.1", f"/{OTHER}.cfg", 3)


def test_counters(server, pki):
    recorded(server, pki)
    c = counters(server.port, cacert=pki["server_ca"])
    assert c["Devices"] == "4"
    assert c["DevicesNotSeen"] == "0"
    assert (c["CertificatesExpired"], c["CertificatesExpiredWaived"]) == ("1", "1")
    assert c["Refused"] == "2" and c["Probes"] == "1" and c["ProbeRequests"] == "3"
    assert c["FirmwareVersions"] == "3"
    assert c["UpdatesDropped"] == "0" and c["CacheDown"] == "0" and c["RecordsMissing"] == "0"
    # days= moves the threshold: the test PKI's valid certificates expire
    # 3650 days after it was made, none within 3000 days, all three within 3650.
    assert counters(server.port, query="auto&days=3000", cacert=pki["server_ca"])["CertificatesExpiring"] == "0"
    assert counters(server.port, query="auto&days=3650", cacert=pki["server_ca"])["CertificatesExpiring"] == "3"


def test_page_escapes_what_clients_sent(server, pki):
    recorded(server, pki)
    r = get(server, "/fleet", pki)
    assert r.status == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    page = r.body.decode()
    assert "<script>alert" not in page
    assert "&lt;/td&gt;&lt;script&gt;alert(&#39;ua&#39;)&lt;/script&gt;" in page
    assert "Room 12" in page and "carried by the waiver" in page
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    for section in ("not-seen", "certificates", "refused", "probes", "firmware", "models", "devices"):
        assert f'id="{section}-section"' in page, section


def test_bad_query_is_400(server, pki):
    r = get(server, "/fleet?hours=0", pki)
    assert r.status == 400 and b"hours=" in r.body


@pytest.mark.allow_log(r"AH01630: client denied by server configuration: .*/htdocs/fleet-")
def test_require_directives_guard_the_page(server, pki):
    assert get(server, "/fleet-restricted?json", pki).status == 403  # Require ip 127.0.0.2
    assert get(server, "/fleet?json", pki).status == 200            # Require all granted


def test_only_get(server, pki):
    assert get(server, "/fleet", pki, method="POST", data="x").status == 405


def test_mod_status_shows_a_summary(server, pki):
    recorded(server, pki)
    r = get(server, "/server-status?auto", pki)
    assert r.status == 200
    assert "PolyProvFleetDevices: 4\n" in r.body.decode()
    assert "PolyProvFleetRefused: 2\n" in r.body.decode()
    r = get(server, "/server-status", pki)
    assert "Phone fleet (mod_polyprov)" in r.body.decode() and "4 devices" in r.body.decode()


CLI = os.environ.get("POLYPROV_CLI", "")


def cli(*args):
    p = subprocess.run([CLI, "fleet", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_cli_summary(server, pki):
    recorded(server, pki)
    url = f"https://127.0.0.1:{server.port}/fleet"
    rc, out, err = cli(url, "--cacert", pki["server_ca"])
    assert rc == 0, err
    assert re.search(r"^devices: +4, 0 not seen for 24 hours$", out, re.M), out
    assert re.search(r"^certificates: +1 expired \(1 carried by the waiver\), 0 expiring within 30 days$", out, re.M)
    assert re.search(r"^refused: +2 ", out, re.M) and re.search(r"^probes: +1 \(3 requests", out, re.M)
    assert re.search(r"^firmware: +unknown \(1\), 4.0.15.1047 \(1\), 5.9.7.4477 \(1\), 8.0.1.0123 \(1\)$", out, re.M)


def test_cli_expiring_exit_status(server, pki):
    recorded(server, pki)
    url = f"https://127.0.0.1:{server.port}/fleet"
    # Within 30 days: only the expired phone, which the waiver carries: nothing to do.
    rc, out, _ = cli(url, "--cacert", pki["server_ca"], "--expiring", "30")
    assert rc == 0, out
    assert re.search(rf"^  {EXPIRED} .* expired, carried by the waiver +Room 12$", out, re.M), out
    # Within 3650 days the test PKI's ten-year certificates run out too: for cron, 1.
    rc, out, _ = cli(url, "--cacert", pki["server_ca"], "--expiring", "3650")
    assert rc == 1, out
    assert re.search(rf"^  {ME} .* expires in \d+ days +desk$", out, re.M), out
    assert "certificates expired or expiring within 3650 days: 4" in out


@pytest.mark.allow_log(r"AH01630: client denied by server configuration: .*/htdocs/fleet-")
def test_cli_client_certificate(server, pki):
    recorded(server, pki)
    url = f"https://127.0.0.1:{server.port}/fleet-operators"
    rc, _, err = cli(url, "--cacert", pki["server_ca"])
    assert rc == 2 and "403" in err, err
    d = pki["devices"]["valid"]
    rc, out, err = cli(url, "--cacert", pki["server_ca"], "--cert", d["cert"], "--key", d["key"])
    assert rc == 0, err
    assert "devices:" in out


def test_cli_refuses_what_is_not_the_fleet(server, pki):
    rc, _, err = cli(f"https://127.0.0.1:{server.port}/server-status", "--cacert", pki["server_ca"])
    assert rc == 2 and "not the fleet JSON" in err, err
    rc, _, err = cli(f"https://127.0.0.1:{server.port}/fleet")  # the system's CAs do not know the test CA
    assert rc == 2 and "certificate verify failed" in err, err
    assert cli("https://127.0.0.1:1/fleet", "--cert", "x.pem")[0] == 2  # --cert without --key
    assert cli("https://127.0.0.1:1/fleet", "--expiring", "soon")[0] == 2


def test_records_survive_a_graceful_restart(server, pki):
    before = recorded(server, pki)
    flock = re.search(r"PP506 .* on (\S+) rather", server.read_error_log()).group(1)
    inode = os.stat(flock).st_ino
    server.graceful()
    # One lock for the server's life: old children still flushing after the
    # restart wait for the new ones' writes, as for each other's.
    assert os.stat(flock).st_ino == inode
    assert server.read_error_log().count("PP506") == 1
    after = fleet_json(server.port, cacert=pki["server_ca"])
    assert after["devices"] == before["devices"]
    assert after["refused"] == before["refused"]
    assert after["probes"] == before["probes"]
    assert "PP531" in server.read_error_log()  # entries kept across the restart
