"""The fleet page in a real headless Chromium (Debian's chromium): loaded
from a plain-http status vhost on loopback (Require ip 127.0.0.1), its DOM
after the page's own script ran (--dump-dom) holds the sections an operator
reads, the client-supplied text as text, and the table sorted as the URL
asked; a screenshot is saved as a test artefact (build tree,
tests/integration/artefacts/fleet-status.png)."""

import html.parser
import os
import shutil
import struct

import pytest

from harness.browser import CHROMIUM, chromium
from harness.apache import MODULE, Apache, free_port, new_server_root
from harness.fleet import (EXPIRED, FLEET_MODULES, FORGED, HOSTILE, LOWER, ME, OTHER, PINNED, UNLISTED, VVX, by_mac,
                           plain_status_vhost,
                           fleet_json, fleet_site, run_script, wait_for)

ARTEFACTS = os.path.join(os.path.dirname(os.path.dirname(MODULE)), "tests", "integration", "artefacts")


class Dom(html.parser.HTMLParser):
    """Tables by id (rows of cell texts), the script elements, and the text
    of elements by id: enough to read the page as a person would."""

    def __init__(self):
        super().__init__()
        self.tables, self.scripts, self.text_by_id = {}, 0, {}
        self.titles = {}  # table id -> rows of the cells' title attributes (None where there is none)
        self.sorted_columns = {}
        self._table = None
        self._head = None
        self._row = None
        self._cell = None
        self._stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
            self.titles[self._table] = []
        if tag == "thead":
            self._head = True
        if tag == "tbody":
            self._head = False
        if tag == "th" and self._table and a.get("aria-sort"):
            self.sorted_columns[self._table] = (len(self._head_cells) if hasattr(self, "_head_cells") else 0,
                                                a["aria-sort"])
        if tag == "tr" and self._table:
            self._row = []
            self._row_titles = []
            self._head_cells = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._row_titles.append(a.get("title"))
        if a.get("id"):
            self._stack.append((tag, a["id"], []))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            text = " ".join("".join(self._cell).split())
            self._row.append(text)
            if tag == "th":
                self._head_cells.append(text)
            self._cell = None
        if tag == "tr" and self._row is not None:
            if not self._head:
                self.tables[self._table].append(self._row)
                self.titles[self._table].append(self._row_titles)
            self._row = None
        if tag == "table":
            self._table = None
        if self._stack and self._stack[-1][0] == tag:
            _, ident, parts = self._stack.pop()
            self.text_by_id[ident] = " ".join(" ".join(parts).split())

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        for _, _, parts in self._stack:
            parts.append(data)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def site(pki):
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is not installed (scripts/install-deps installs it)")
    apache = Apache(new_server_root(), mpm="event")
    plain = free_port()
    status_vhost = plain_status_vhost(plain)
    fleet_line = f"PolyProvFleet shmcb:{apache.root}/run/fleet(2097152)\n"
    try:
        apache.start(fleet_site(apache.root, apache.port, pki, fleet_line) + status_vhost, extra_modules=FLEET_MODULES)
        run_script(apache.port, pki)
        apache.plain = plain

        def complete():
            doc = fleet_json(plain, scheme="http", host="localhost")
            return len(doc["devices"]) == 4 and len(doc["refused"]) == 2 and doc["probes"] != [], doc
        wait_for("the scripted fleet", complete)
        yield apache
    finally:
        apache.stop()
        shutil.rmtree(apache.root, ignore_errors=True)


def test_page_in_chromium(site):
    # Sorted by the devices table's "Last seen" column, newest first, by the page's own script.
    url = f"http://127.0.0.1:{site.plain}/fleet#sort=devices:3:desc"
    rc, out, err = chromium("--dump-dom", url)
    assert rc == 0, err[-2000:]
    dom = Dom()
    dom.feed(out)
    assert dom.scripts == 1

    assert dom.text_by_id["tiles"].startswith("Devices 4")
    assert "Certificates expired 1 1 carried by the waiver" in dom.text_by_id["tiles"]
    assert "Refused devices 2" in dom.text_by_id["tiles"] and "Probing attempts 1 3 requests" in dom.text_by_id["tiles"]

    devices = {row[0]: row for row in dom.tables["devices"]}
    titles = {row[0]: t for row, t in zip(dom.tables["devices"], dom.titles["devices"])}
    assert set(devices) == {ME, EXPIRED, PINNED, LOWER}
    assert devices[ME][1:3] == ["desk", "VVX_500 5.9.7.4477"]  # the model, its firmware below
    assert titles[ME][2] == VVX  # the whole User-Agent on hover
    assert titles[LOWER][2] == HOSTILE  # a User-Agent that tried to be markup is an attribute's text
    assert "pinned" in devices[PINNED][6] and "waived" in devices[EXPIRED][6]
    assert "first" in devices[ME][7] and "config" in devices[ME][7] and "upload" in devices[ME][7]

    certificates = {row[0]: row for row in dom.tables["certificates"]}
    assert "carried by the waiver" in certificates[EXPIRED][4]
    refused = {(row[0], row[1].split()[0]) for row in dom.tables["refused"]}
    assert refused == {(UNLISTED, "not-in-acl"), (FORGED, "unverified")}
    assert [row[0] for row in dom.tables["probes"]] == [ME] and dom.tables["probes"][0][3] == f"/{OTHER}.cfg"
    firmware = {row[0]: row[1] for row in dom.tables["firmware"]}
    assert firmware == {"unknown": "1", "4.0.15.1047": "1", "5.9.7.4477": "1", "8.0.1.0123": "1"}

    # The script ran under the page's CSP: the header says so, and the rows follow it.
    assert dom.sorted_columns["devices"] == (3, "descending")
    last_seen_order = [row[0] for row in dom.tables["devices"]]
    server_order = sorted(by_mac(fleet_json(site.plain, scheme="http", host="localhost")["devices"]).values(),
                          key=lambda d: d["last_seen"], reverse=True)
    assert [row[3][:16] for row in dom.tables["devices"]] == \
        sorted([row[3][:16] for row in dom.tables["devices"]], reverse=True), last_seen_order
    assert {d["mac"] for d in server_order} == set(last_seen_order)


def test_screenshot(site):
    os.makedirs(ARTEFACTS, exist_ok=True)
    shot = os.path.join(ARTEFACTS, "fleet-status.png")
    if os.path.exists(shot):
        os.unlink(shot)
    rc, _, err = chromium(f"--screenshot={shot}", "--window-size=1280,1600", f"http://127.0.0.1:{site.plain}/fleet")
    assert rc == 0, err[-2000:]
    assert png_size(shot) == (1280, 1600)
    assert os.path.getsize(shot) > 20000, "an empty page would compress to almost nothing"


@pytest.mark.allow_log(r"AH01630: client denied by server configuration")
def test_status_vhost_is_loopback_only(site, pki):
    """Require ip 127.0.0.1 on the plain vhost: the page is not for other addresses."""
    from harness.clients import curl
    r = curl("localhost", site.plain, path="/fleet?auto", scheme="http")
    assert r.status == 200
    # The TLS vhost's /fleet-restricted says Require ip 127.0.0.2: refused from 127.0.0.1.
    assert curl("access.test", site.port, path="/fleet-restricted", cacert=pki["server_ca"]).status == 403
