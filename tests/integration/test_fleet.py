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
    assert list(doc) == ["generated", "node", "devices", "refused", "probes"]
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
    # hours= and days= move the thresholds: every phone was seen within the hour,
    # and no valid test certificate expires within 3000 days of now... but the
    # test PKI's self-signed one does within 4000.
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


def test_records_survive_a_graceful_restart(server, pki):
    before = recorded(server, pki)
    server.graceful()
    after = fleet_json(server.port, cacert=pki["server_ca"])
    assert after["devices"] == before["devices"]
    assert after["refused"] == before["refused"]
    assert after["probes"] == before["probes"]
    assert "PP531" in server.read_error_log()  # entries kept across the restart
