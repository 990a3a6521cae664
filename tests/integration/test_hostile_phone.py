"""Closed to a hostile phone (issue 13): phone A, holding a valid
certificate, against phone B's files, in configurations an operator could
plausibly write. Each attack is shown against stock Apache (the same
configuration without the module's directives, on its own copy of the
files) where the hole is Apache's own behaviour, and refused with the module."""

import os
import re
import shutil

import pytest

from harness.apache import Apache, new_server_root
from harness.clients import curl
from harness.phone import Phone
from harness.vhosts import tls_vhost

A, B = "0004F2000001", "0004F2000002"      # the attacker's phone, the victim's
UNKNOWN = "0004F2000099"                   # a phone with no file anywhere


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for d in (os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
        os.chmod(d, 0o755)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def tree(top):
    """The files both servers serve: phones' configs, a vault per phone, logs."""
    for name in (f"{A}.cfg", f"{B}.cfg", "000000000000.cfg", f"mv/{A}.xml", f"mv/{B}.xml", f"mv/{B}-phone.cfg",
                 f"spell/{A}.cfg", f"spell/{B}.cfg", f"open/{A}.cfg", f"open/{B}.cfg", "bootstrap/boot.cfg"):
        write(os.path.join(top, "htdocs", name), f"content of {name}\n")
    for phone in (A, B):
        write(os.path.join(top, "vault", phone, "x.cfg"), f"vault of {phone}: SIP password\n")
    write(os.path.join(top, "htdocs", "logs", f"{B}-app.log"), f"log of {B}\n")
    write(os.path.join(top, "htdocs", "logs", f"{A}-app.log"), f"log of {A}\n")
    write(os.path.join(top, "htdocs", "logs", "operator.html"), "<script>alert(1)</script>\n")
    os.chmod(os.path.join(top, "htdocs", "logs"), 0o777)   # mod_dav writes here in the stock tree
    for name in (f"{A}-app.log", f"{B}-app.log", "000000000000-directory.xml", "archive/x.log"):
        write(os.path.join(top, "htdocs", "davopen", name), f"content of {name}\n")
    for d in ("davopen", "davopen/archive"):
        os.chmod(os.path.join(top, "htdocs", d), 0o777)


def sections(top, with_module, acl):
    """The operator's configuration; `with_module` adds the module's directives."""
    pp = (lambda text: text) if with_module else (lambda text: "")
    docs = f"{top}/htdocs"
    return f"""
    DocumentRoot {docs}
    {pp(f"PolyProvACLFile {acl}")}
    Alias /reception {top}/vault/{B}
    Alias /mine {top}/vault/{A}
    <Directory {top}/vault>
        Require all granted
        {pp("PolyProvRequireDevice on")}
    </Directory>
    <Directory {top}/vault/{B}>
        {pp(f"PolyProvACLFile {acl}")}
    </Directory>
    <Directory {docs}>
        Require all granted
        Options -Indexes
        {pp("PolyProvRequireDevice on")}
        {pp(f"PolyProvACLFile {acl}")}
    </Directory>
    <Directory {docs}/bootstrap>
        {pp("PolyProvRequireDevice off")}
    </Directory>
    <Directory {docs}/logs>
        Dav On
        {pp("PolyProvUpload on")}
    </Directory>
    <Directory {docs}/mv>
        Options +MultiViews
    </Directory>
    <Directory {docs}/spell>
        CheckSpelling on
    </Directory>
    <Directory {docs}/open>
        {pp("PolyProvAllowMethods POST MOVE")}
    </Directory>
    <Directory {docs}/davopen>
        Dav On
        {pp("PolyProvUpload on")}
        {pp("PolyProvAllowMethods DELETE MOVE COPY")}
    </Directory>
"""


@pytest.fixture(scope="module", params=["event", "prefork"])
def server(request, pki):
    apache = Apache(new_server_root(), mpm=request.param)
    root = apache.root
    apache.mod, apache.stock = os.path.join(root, "mod"), os.path.join(root, "stock")
    for top in (apache.mod, apache.stock):
        tree(top)
        os.chmod(top, 0o755)
    acl = os.path.join(root, "conf", "phones.acl")
    pin = pki["devices"]["self_signed"]["sha256"]
    write(acl, f"{A} label=attacker\n{B} label=victim\n64167F000002 sha256={pin}   # pinned to another certificate\n")
    vhosts = tls_vhost(apache.port, "access.test", pki, verify="optional_no_ca",
                       extra=sections(apache.mod, True, acl))
    vhosts += tls_vhost(apache.port, "stock.test", pki, verify="optional_no_ca",
                        extra=sections(apache.stock, False, acl))
    os.makedirs(os.path.join(root, "davlock"), mode=0o777)
    os.chmod(os.path.join(root, "davlock"), 0o777)
    # The same tree with the list only inside a <Directory>: the early
    # variables know its pins before any section is matched.
    vhosts += tls_vhost(apache.port, "sections.test", pki, verify="optional_no_ca", extra=f"""
    DocumentRoot {apache.mod}/htdocs
    <Directory {apache.mod}/htdocs>
        PolyProvACLFile {acl}
    </Directory>
    <Directory {apache.mod}/htdocs/bootstrap>
        PolyProvRequireDevice off
    </Directory>
""")
    vhosts = f"DavLockDB {root}/davlock/db\n" + vhosts
    apache.start(vhosts, extra_modules=("alias", "dav", "dav_fs", "negotiation", "speling", "dir"))
    yield apache
    apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(root)


def req(server, path, device="valid", host="access.test", **kw):
    d = pki_devices[device] if device else {}
    return curl(host, server.port, path=path, cert=d.get("cert"), key=d.get("key"), cacert=server_ca[0], **kw)


pki_devices = {}
server_ca = [None]


@pytest.fixture(autouse=True)
def _pki(pki):
    pki_devices.update(pki["devices"])
    server_ca[0] = pki["server_ca"]


def refused(r, decision="deny:mac-mismatch"):
    assert r.ok, r.error
    assert r.status == 403, (r.status, r.headers, r.body[:300])
    assert r.headers.get("x-decision") == decision, r.headers
    assert B.encode() not in r.body, "the answer names the other phone"
    assert b"SIP password" not in r.body


def exists(server, rel):
    return os.path.exists(os.path.join(server.mod, rel))


# -- 1. an Alias into another phone's directory -------------------------------

def test_alias_into_another_phones_directory(server):
    stock = req(server, "/reception/x.cfg", host="stock.test")
    assert stock.status == 200 and b"SIP password" in stock.body, "stock Apache serves it"
    refused(req(server, "/reception/x.cfg"))
    r = req(server, "/mine/x.cfg")
    assert r.status == 200 and f"vault of {A}".encode() in r.body, "an Alias to the phone's own directory"


# -- 2. WebDAV beside the module -----------------------------------------------

@pytest.mark.parametrize("method,path,headers", [
    ("DELETE", "/logs/", {}),
    ("DELETE", f"/logs/{B}-app.log", {}),
    ("DELETE", f"/logs/{A}-app.log", {}),
    ("MOVE", f"/logs/{A}-app.log", {"Destination": f"/logs/{A}-x.shtml"}),
    ("COPY", f"/logs/{A}-app.log", {"Destination": f"/logs/{A}-x.shtml"}),
    ("MKCOL", "/logs/newdir", {}),
    ("PROPPATCH", f"/logs/{A}-app.log", {"Content-Type": "text/xml"}),
    ("LOCK", f"/logs/{A}-app.log", {"Content-Type": "text/xml"}),
    ("UNLOCK", f"/logs/{A}-app.log", {"Lock-Token": "<opaquelocktoken:x>"}),
    ("POST", f"/{A}.cfg", {}),
    ("PATCH", f"/{A}.cfg", {}),
])
def test_methods_that_write_are_refused(server, method, path, headers):
    mark = server.log_mark()
    refused(req(server, path, method=method, headers=headers), "deny:not-writable")
    lines = [l for l in server.log_since(mark).splitlines() if "PP201" in l]
    assert len(lines) == 1 and f"method {method} is not allowed here" in lines[0], lines
    assert exists(server, f"htdocs/logs/{B}-app.log") and exists(server, f"htdocs/logs/{A}-app.log")
    assert not exists(server, f"htdocs/logs/{A}-x.shtml") and not exists(server, "htdocs/logs/newdir")


def test_propfind_lists_nothing(server):
    stock = req(server, "/logs/", host="stock.test", method="PROPFIND", headers={"Depth": "1"})
    assert stock.status == 207 and B.encode() in stock.body, "stock mod_dav lists every phone's log"
    refused(req(server, "/logs/", method="PROPFIND", headers={"Depth": "1"}), "deny:not-writable")


def test_stock_dav_deletes_another_phones_log(server):
    # What the module closes: the same request against the stock tree.
    assert os.path.exists(os.path.join(server.stock, "htdocs", "logs", f"{B}-app.log"))
    r = req(server, f"/logs/{B}-app.log", host="stock.test", method="DELETE")
    assert r.status == 204
    assert not os.path.exists(os.path.join(server.stock, "htdocs", "logs", f"{B}-app.log"))


def test_the_lock_file_is_out_of_reach(server):
    phone = Phone(server.port, pki_devices["valid"], server_ca[0])
    assert phone.put(f"/logs/{A}-app.log", b"new\n")[0] in (201, 204)   # now the lock file exists
    phone.close()
    assert exists(server, "htdocs/logs/.polyprov.lock")
    for method in ("GET", "DELETE", "MKCOL", "PUT", "PROPFIND"):
        r = req(server, "/logs/.polyprov.lock", method=method, data="" if method == "PUT" else None)
        assert r.status == 403 and r.headers.get("x-decision") == "deny:not-writable", (method, r.status)
    assert os.path.isfile(os.path.join(server.mod, "htdocs", "logs", ".polyprov.lock"))
    # Uploads still work: nothing broke the lock.
    phone = Phone(server.port, pki_devices["valid"], server_ca[0])
    assert phone.put(f"/logs/{A}-app.log", b"again\n")[0] == 204
    phone.close()


def test_an_opened_method_is_decided_by_the_path_rule(server):
    # PolyProvAllowMethods POST MOVE: the module no longer refuses them (the
    # default handler answers POST to a file as GET), but another phone's
    # path, or a Destination naming one, stays refused.
    r = req(server, f"/open/{A}.cfg", method="POST", data="x")
    assert (r.status, r.headers.get("x-decision")) == (200, "allow")
    refused(req(server, f"/open/{B}.cfg", method="POST", data="x"))
    refused(req(server, f"/open/{A}.cfg", method="MOVE", headers={"Destination": f"/open/{B}.cfg"}))
    assert req(server, f"/open/{A}.cfg", method="DELETE").status == 403


# -- 3. MultiViews ---------------------------------------------------------------

@pytest.mark.allow_log(r"AH00687: Negotiation: discovered file\(s\) matching request: .*/stock/htdocs/mv/")
def test_multiviews_does_not_tell_whether_another_phones_file_exists(server):
    stock_b = req(server, f"/mv/{B}", host="stock.test")
    assert stock_b.status == 200 and f"content of mv/{B}.xml".encode() in stock_b.body
    assert req(server, f"/mv/{UNKNOWN}", host="stock.test").status == 404
    # .cfg has no type, so it cannot be negotiated: stock says 404 for an
    # existing name; the module used to say 403 only for a missing one.
    assert req(server, f"/mv/{B}-phone", host="stock.test").status == 404
    # With the module: the same answer whether the file exists or not.
    refused(req(server, f"/mv/{B}"))
    refused(req(server, f"/mv/{B}-phone"))
    refused(req(server, f"/mv/{UNKNOWN}"))
    r = req(server, f"/mv/{A}")
    assert r.status == 200 and f"content of mv/{A}.xml".encode() in r.body


# -- 4. listings -------------------------------------------------------------------

def test_spelling_correction_is_refused_where_devices_are_required(server):
    typo = "/spell/0004F200000.cfg"   # 11 digits: no MAC, so "shared" by the path rule
    stock = req(server, typo, host="stock.test")
    assert stock.status == 300 and B.encode() in stock.body, "stock mod_speling lists every phone's file"
    mark = server.log_mark()
    r = req(server, typo)
    assert r.status == 403 and B.encode() not in r.body and "location" not in r.headers
    assert "PP208" in server.log_since(mark)
    r = req(server, f"/spell/{A}.cfg")
    assert r.status == 200, "an existing file is served as before"


# -- 5. one certificate, two identities ------------------------------------------

@pytest.mark.parametrize("device", ["cn_two_cns", "cn_nul"])
def test_a_subject_that_reads_as_two_identities_names_nobody(server, device):
    r = req(server, f"/{A}.cfg", device=device)
    refused(r, "deny:cn-no-mac")
    assert r.headers.get("x-mac") == "(null)" and r.headers.get("x-claimed-mac") == "(null)"
    r = req(server, "/bootstrap/boot.cfg", device=device)
    assert r.status == 200 and r.headers.get("x-mac") == "(null)"


def test_mod_ssl_shows_the_first_cn_of_two(server):
    # What logs and <If> would have believed: the first CN (the victim's).
    r = req(server, "/bootstrap/boot.cfg", device="cn_two_cns")
    assert r.headers.get("x-client-cn") == B


# -- POLYPROV_MAC only for what the core authenticates (issue 9) -------------------

def test_a_verified_certificate_pinned_to_another_names_nobody_early(server):
    # The ACL pins 64167F000002 to another certificate: the verified one is
    # refused by the access check, and must not be named before it either.
    r = req(server, "/bootstrap/boot.cfg", device="valid_ca2")
    assert r.status == 200
    assert r.headers.get("x-mac") == "(null)", "named before the access check"
    assert r.headers.get("x-claimed-mac") == "64167F000002"
    r = req(server, "/000000000000.cfg", device="valid_ca2")
    assert (r.status, r.headers.get("x-decision"), r.headers.get("x-mac")) == (403, "deny:unverified", "(null)")
    r = req(server, "/bootstrap/boot.cfg", device="valid")
    assert (r.headers.get("x-mac"), r.headers.get("x-label")) == (A, "attacker")


# -- 6. upload names and how uploads are served ----------------------------------

@pytest.mark.parametrize("name", [f"{A}.log", f"{A}.cfg", f"{A}-x.html.log", f"{A}-x.html", f"{A}-x.shtml",
                                  f"{A}-.log", f"{B}-app.log", f"{A}-x.php"])
def test_names_a_phone_may_not_write(server, name):
    phone = Phone(server.port, pki_devices["valid"], server_ca[0])
    status, headers, _ = phone.put(f"/logs/{name}", b"<html><script>alert(1)</script>\n")
    phone.close()
    assert status == 403, (name, status)
    assert not exists(server, f"htdocs/logs/{name}") or name == f"{B}-app.log"


def test_uploads_are_served_as_data(server):
    phone = Phone(server.port, pki_devices["valid"], server_ca[0])
    assert phone.put(f"/logs/{A}-calls.xml", b"<calls/>\n")[0] in (201, 204)
    status, headers, _ = phone.request("GET", f"/logs/{A}-calls.xml")
    assert status == 200
    assert headers["content-type"] == "application/xml" and headers["x-content-type-options"] == "nosniff"
    status, headers, _ = phone.request("GET", f"/logs/{A}-app.log")
    assert headers["content-type"] == "text/plain" and headers["x-content-type-options"] == "nosniff"
    # A page someone put there is served as text as well, never as HTML.
    status, headers, _ = phone.request("GET", "/logs/operator.html")
    assert status == 200 and headers["content-type"] == "text/plain"
    phone.close()
    stock = req(server, "/logs/operator.html", host="stock.test")
    assert stock.headers["content-type"].startswith("text/html"), "what mime.types says without the module"


@pytest.mark.parametrize("method,path,destination", [
    ("DELETE", "/davopen/", None),
    ("DELETE", "/davopen/archive/", None),
    ("DELETE", "/davopen/000000000000-directory.xml", None),
    ("DELETE", f"/davopen/{B}-app.log", None),
    ("MOVE", f"/davopen/{A}-app.log", "/davopen/000000000000-directory.xml"),
    ("COPY", f"/davopen/{A}-app.log", "/davopen/000000000000.cfg"),
    ("MOVE", f"/davopen/{A}-app.log", f"/davopen/{A}-x.shtml"),
    ("MOVE", f"/davopen/{A}-app.log", f"/davopen/{B}-app.log"),
])
def test_opened_webdav_writes_touch_only_the_phones_own_uploads(server, method, path, destination):
    headers = {"Destination": f"https://access.test:{server.port}{destination}", "Overwrite": "T"} if destination else {}
    r = req(server, path, method=method, headers=headers)
    assert r.status == 403, (r.status, r.body[:200])
    for name in (f"{A}-app.log", f"{B}-app.log", "000000000000-directory.xml", "archive/x.log"):
        assert exists(server, f"htdocs/davopen/{name}"), name
    assert not exists(server, f"htdocs/davopen/{A}-x.shtml") and not exists(server, "htdocs/davopen/000000000000.cfg")


def test_an_opened_webdav_write_within_the_phones_own_uploads(server):
    destination = f"https://access.test:{server.port}/davopen/{A}-old.log"   # mod_dav takes absolute URIs only
    r = req(server, f"/davopen/{A}-app.log", method="COPY", headers={"Destination": destination})
    assert r.status == 201, (r.status, r.headers)
    assert req(server, f"/davopen/{A}-old.log", method="DELETE").status == 204
    assert not exists(server, f"htdocs/davopen/{A}-old.log")


def test_pins_bind_before_the_section_with_the_list_is_matched(server):
    # sections.test names its list only in a <Directory>: 64167F000002 is
    # pinned there to another certificate, and must not be named early.
    r = req(server, "/bootstrap/boot.cfg", device="valid_ca2", host="sections.test")
    assert r.status == 200
    assert (r.headers.get("x-mac"), r.headers.get("x-claimed-mac")) == ("(null)", "64167F000002")
    r = req(server, "/bootstrap/boot.cfg", device="valid", host="sections.test")
    assert r.headers.get("x-mac") == A
    r = req(server, "/000000000000.cfg", device="valid_ca2", host="sections.test")
    assert (r.status, r.headers.get("x-decision")) == (403, "deny:unverified")
