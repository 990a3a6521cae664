"""PolyProvRequireDevice, PolyProvACLFile and PolyProvMatchURI against a real
apache2: a phone gets its own files and the shared ones, nothing else, and an
unknown or unauthenticated client gets nothing. Every case checks the status,
POLYPROV_DECISION, and that no other phone's content came back."""

import os
import re
import shutil
import time

import pytest

from harness.apache import Apache, free_port, have_module, new_server_root
from harness.clients import curl
from harness.files import write_file as write
from harness.vhosts import tls_vhost

ME, OTHER, EXPIRED = "0004F2000001", "0004F2000002", "0004F2000003"


def acl_text(pki, extra=""):
    pin = pki["devices"]["self_signed"]["sha256"]
    return (
        "# test fleet\n"
        f"{ME} label=desk\n"
        f"00:04:f2:00:00:03 label=\"Room 12\"   # the expired phone\n"
        "0004F2000012\n0004f2000013\n0004F2000015 label=cisco-style\n"
        f"0004F200000C sha256={pin}   # self-signed, pinned\n"
        "0004F200000D\n"                    # self-signed, expired, not pinned
        "0004F200000A label=impostor\n"     # listed, but its certificate is forged
        + extra)


@pytest.fixture(scope="module", params=["event", "prefork"])
def server(request, pki):
    apache = Apache(new_server_root(), mpm=request.param)
    root, port = apache.root, apache.port
    docs = os.path.join(root, "htdocs")
    for name in ("000000000000.cfg", f"{ME}.cfg", f"{OTHER}.cfg", f"{EXPIRED}.cfg", "0004F200000C.cfg",
                 "sip.ld", f"{OTHER}/x.cfg", f"sub/{ME}-phone.cfg", f"sub/{OTHER}-phone.cfg",
                 "bootstrap/bootstrap.cfg", f"bootstrap/{OTHER}.cfg", f"loose/{OTHER}.cfg", "idx/readme.txt", f"idx/{OTHER}.cfg",
                 "errdoc/here.cfg", "0004F20000012.cfg"):
        write(os.path.join(docs, name), f"content of {name}\n")
    for d in os.listdir(docs):
        if os.path.isdir(os.path.join(docs, d)):
            os.chmod(os.path.join(docs, d), 0o755)
    acl = os.path.join(root, "conf", "phones.acl")
    write(acl, acl_text(pki))
    plain_port = free_port()
    directories = f"""
    <Directory {docs}>
        Options -Indexes
        PolyProvRequireDevice on
        PolyProvACLFile {acl}
    </Directory>
    <Directory {docs}/bootstrap>
        PolyProvRequireDevice off
    </Directory>
    <Directory {docs}/loose>
        PolyProvMatchURI off
    </Directory>
    <Directory {docs}/idx>
        DirectoryIndex {OTHER}.cfg readme.txt
    </Directory>
    <Directory {docs}/errdoc>
        ErrorDocument 404 /{OTHER}.cfg
    </Directory>
"""
    for name in (f"aclonly/{ME}.cfg", f"locdir/{OTHER}/x.cfg", "locdir/shared.cfg"):
        write(os.path.join(root, name), f"content of {name}\n")
    for d in ("aclonly", "locdir", f"locdir/{OTHER}"):
        os.chmod(os.path.join(root, d), 0o755)
    directories += f"""
    <Directory {root}/aclonly>
        Require all granted
        PolyProvACLFile {acl}
    </Directory>
    <Directory {root}/locdir>
        Require all granted
    </Directory>
"""
    rewrite = f"""
    Alias /aclonly/ {root}/aclonly/
    Alias /loc/ {root}/locdir/
    <Location /loc/>
        PolyProvRequireDevice on
    </Location>
    RewriteEngine on
    RewriteRule ^/loc/steal\\.cfg$ {root}/locdir/{OTHER}/x.cfg [L]
    RewriteRule ^/mine\\.cfg$ /%{{ENV:POLYPROV_MAC}}.cfg [L]
    RewriteRule ^/steal\\.cfg$ /{OTHER}.cfg [L]
    SetEnvIf POLYPROV_MAC "^{ME}$" PHONE_ONE=yes
    Header always set X-Phone-One "%{{PHONE_ONE}}e"
    <Location />
        SetEnvIf X-Forge "^yes$" POLYPROV_MAC={OTHER} FORGED=yes
    </Location>
    Header always set X-Forged "%{{FORGED}}e"
"""
    vhosts = tls_vhost(port, "access.test", pki, verify="optional_no_ca", waiver="leaf", extra=rewrite)
    vhosts += f"Listen 127.0.0.1:{plain_port}\n<VirtualHost 127.0.0.1:{plain_port}>\n    ServerName plain.test\n" \
              f"    Header always set X-Decision \"%{{POLYPROV_DECISION}}e\"\n</VirtualHost>\n"
    apache.plain_port = plain_port
    apache.acl = acl
    apache.start(directories + vhosts, extra_modules=("rewrite", "dir", "setenvif", "alias"))
    yield apache
    apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(apache.root)


def get(server, pki, device, path, **kw):
    d = pki["devices"][device] if device else {}
    return curl("access.test", server.port, path=path, cert=d.get("cert"), key=d.get("key"),
                cacert=pki["server_ca"], **kw)


def expect(r, status, decision, leaked=OTHER):
    assert r.ok, r.error
    assert (r.status, r.headers.get("x-decision")) == (status, decision), r.headers
    assert f"content of {leaked}".encode() not in r.body, "another phone's file was served"


# -- the phone's own and shared files ------------------------------------

@pytest.mark.parametrize("path", [f"/{ME}.cfg", "/000000000000.cfg", "/sip.ld",
                                  f"/./{ME}.cfg", f"//{ME}.cfg", f"/sub/{ME}-phone.cfg",
                                  f"/000000000000.cfg?mac={OTHER}", "/%30004F2000001.cfg"])
def test_own_and_shared_files(server, pki, path):
    r = get(server, pki, "valid", path)
    expect(r, 200, "allow")
    assert r.headers["x-mac"] == ME and r.headers["x-label"] == "desk"


def test_own_file_that_does_not_exist_is_404(server, pki):
    expect(get(server, pki, "valid", f"/{ME}-web.cfg"), 404, "allow")
    # The MAC matches whatever its case; the file system then decides.
    expect(get(server, pki, "valid", f"/{ME.lower()}.cfg"), 404, "allow")


# -- another phone's files, however asked for ----------------------------

@pytest.mark.parametrize("path", [
    f"/{OTHER}.cfg",                     # in the file name
    f"/{OTHER.lower()}.cfg",             # mixed case
    f"/{OTHER}/x.cfg",                   # in a directory name
    "/%30%30%30%34%46%32%30%30%30%30%30%32.cfg",  # every digit percent-encoded
    f"//{OTHER}.cfg", f"/./{OTHER}.cfg", f"/sub/../{OTHER}.cfg",
    f"/{OTHER}.cfg;{ME}",                # path parameter
    f"/{ME}.cfg;{OTHER}",
    f"/{ME}/{OTHER}.cfg",                # two MACs in one path
    f"/sub/{OTHER}-phone.cfg",           # inherited by a sub-directory
    f"/{OTHER}-missing.cfg",             # does not exist: still 403, not 404
    "/0004F20000012.cfg",                # a 13-digit run: fail closed
    "/00:04:f2:00:00:02.cfg",            # another notation
])
def test_other_phones_files_are_refused(server, pki, path):
    expect(get(server, pki, "valid", path), 403, "deny:mac-mismatch")


def test_denial_is_logged_once_with_mac_path_and_reason(server, pki):
    mark = server.log_mark()
    get(server, pki, "valid", f"/{OTHER}.cfg")
    lines = [l for l in server.log_since(mark).splitlines() if "PP201" in l]
    assert len(lines) == 1, lines
    assert "[polyprov:info]" in lines[0]
    assert f"denied GET: MAC {ME}, path /{OTHER}.cfg: mac-mismatch, path names {OTHER}" in lines[0]


def test_decision_reaches_the_access_log(server, pki):
    get(server, pki, "valid", f"/{OTHER}.cfg")
    get(server, pki, "valid", f"/{ME}.cfg")

    def logged():
        # The access log is written after the response is sent: poll for it.
        with open(server.access_log) as f:
            log = f.read()
        return (re.search(rf'"GET /{OTHER}\.cfg HTTP/1\.1" 403 .* mac={ME} decision=deny:mac-mismatch', log) and
                re.search(rf'"GET /{ME}\.cfg HTTP/1\.1" 200 .* mac={ME} decision=allow', log))
    assert wait_until(logged), "the decision did not reach the access log"


# -- who the client is ---------------------------------------------------

@pytest.mark.parametrize("device,decision", [
    (None, "deny:no-cert"),                   # optional_no_ca: no certificate at all
    ("impostor", "deny:unverified"),          # look-alike chain: mod_ssl says FAILED:/GENEROUS
    ("self_signed_expired", None),            # fails the handshake, as with stock mod_ssl
    ("valid_ca2", "deny:not-in-acl"),         # a genuine phone that is not on the list
    ("cn_two_macs", "deny:cn-no-mac"),
    ("cn_none", "deny:cn-no-mac"),
    ("cn_13_digits", "deny:cn-no-mac"),
])
def test_clients_that_are_no_listed_device(server, pki, device, decision):
    r = get(server, pki, device, "/000000000000.cfg")
    if decision is None:
        assert not r.ok
        return
    expect(r, 403, decision, leaked="000000000000.cfg")


@pytest.mark.parametrize("device,mac", [("cn_extra_text", "0004F2000012"), ("cn_lower", "0004F2000013"),
                                        ("cn_cisco", "0004F2000015"), ("expired", EXPIRED)])
def test_cn_variants_and_expired_phones(server, pki, device, mac):
    r = get(server, pki, device, "/000000000000.cfg")
    expect(r, 200, "allow")
    assert r.headers["x-mac"] == mac


def test_expired_phone_gets_its_own_file_and_label(server, pki):
    r = get(server, pki, "expired", f"/{EXPIRED}.cfg")
    expect(r, 200, "allow")
    assert r.headers["x-label"] == "Room 12" and r.headers["x-cert-expired"] == "1"
    expect(get(server, pki, "expired", f"/{ME}.cfg"), 403, "deny:mac-mismatch", leaked=ME)


def test_pinned_self_signed_phone(server, pki):
    r = get(server, pki, "self_signed", "/0004F200000C.cfg")
    expect(r, 200, "allow")
    assert r.headers["x-verify"] != "SUCCESS"   # it did not verify: the pin let it in
    expect(get(server, pki, "self_signed", f"/{ME}.cfg"), 403, "deny:mac-mismatch", leaked=ME)


def test_plain_http_gets_nothing(server, pki):
    r = curl("plain.test", server.plain_port, path=f"/{ME}.cfg", scheme="http")
    expect(r, 403, "deny:no-cert", leaked=ME)


# -- where the settings apply --------------------------------------------

def test_bootstrap_directory_needs_no_certificate(server, pki):
    expect(get(server, pki, None, "/bootstrap/bootstrap.cfg"), 200, "(null)")


def test_match_uri_off(server, pki):
    expect(get(server, pki, "valid", f"/loose/{OTHER}.cfg"), 200, "allow", leaked="nothing")
    expect(get(server, pki, "valid_ca2", "/loose/x.cfg"), 403, "deny:not-in-acl")


# -- ways around the check -----------------------------------------------

def test_directory_index_subrequest(server, pki):
    # DirectoryIndex names another phone's file first: mod_dir's subrequest
    # for it is refused, and it falls through to the next name.
    r = get(server, pki, "valid", "/idx/")
    assert r.status == 200 and r.body == b"content of idx/readme.txt\n", (r.status, r.body)


def test_error_document_redirect(server, pki):
    r = get(server, pki, "valid", "/errdoc/missing.cfg")
    assert r.status in (403, 404)
    assert b"content of 0004F2000002" not in r.body


def test_rewrite_to_another_phones_file(server, pki):
    expect(get(server, pki, "valid", "/steal.cfg"), 403, "deny:mac-mismatch")


def test_env_is_set_before_rewrite_and_setenvif(server, pki):
    r = get(server, pki, "valid", "/mine.cfg")
    assert r.status == 200 and r.body == f"content of {ME}.cfg\n".encode()
    assert r.headers["x-phone-one"] == "yes"
    assert get(server, pki, "expired", "/mine.cfg").body == f"content of {EXPIRED}.cfg\n".encode()


def test_a_rule_cannot_rename_the_device(server, pki):
    # A per-directory SetEnvIf runs after the early hook and before the
    # access check: the variable names the authenticated device again.
    r = get(server, pki, "valid", f"/{ME}.cfg", headers={"X-Forge": "yes"})
    assert r.status == 200 and r.body == f"content of {ME}.cfg\n".encode()
    assert r.headers["x-forged"] == "yes"  # the rule did run
    assert r.headers["x-mac"] == ME


# -- the list follows its file ---------------------------------------------

def wait_until(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.allow_log(r"PP203 .*phones\.acl:\d+: duplicate MAC 64167F000002")
def test_acl_reload_without_restart(server, pki):
    new_phone = "valid_ca2"
    assert get(server, pki, new_phone, "/000000000000.cfg").status == 403
    mark = server.log_mark()
    tmp = server.acl + ".new"
    write(tmp, acl_text(pki, extra="64:16:7f:00:00:02 label=added\n"))
    os.rename(tmp, server.acl)
    changed = time.monotonic()
    assert wait_until(lambda: get(server, pki, new_phone, "/000000000000.cfg").status == 200)
    # Every process has it after about a second: no stale child answers.
    time.sleep(max(0.0, 1.5 - (time.monotonic() - changed)))
    statuses = [get(server, pki, new_phone, "/000000000000.cfg").status for _ in range(12)]
    assert statuses == [200] * 12
    assert re.search(r"PP202 reloaded .*phones\.acl: 9 devices", server.log_since(mark))

    # A bad edit keeps the last good list and is reported once, not once per process.
    mark = server.log_mark()
    write(tmp, acl_text(pki, extra="64:16:7f:00:00:02\n64167F000002\n"))
    os.rename(tmp, server.acl)
    time.sleep(1.5)
    for _ in range(12):
        assert get(server, pki, new_phone, "/000000000000.cfg").status == 200
    first = server.log_since(mark)
    reports = re.findall(r"PP203 .*phones\.acl:\d+: duplicate MAC 64167F000002 \(first on line \d+\); "
                         r"every process keeps the last good version", first)
    assert len(reports) == 1, first
    time.sleep(1.2)
    mark2 = server.log_mark()
    for _ in range(12):
        assert get(server, pki, new_phone, "/000000000000.cfg").status == 200
    assert "PP203" not in server.log_since(mark2), "the same bad file was reported again"

    write(tmp, acl_text(pki))
    os.rename(tmp, server.acl)
    assert wait_until(lambda: get(server, pki, new_phone, "/000000000000.cfg").status == 403)


def test_http2(server, pki):
    if server.mpm == "prefork" or not have_module("http2"):
        pytest.skip("mod_http2 serves HTTP/2 only under event/worker (AH10034)")
    r = get(server, pki, "valid", f"/{ME}.cfg", http2=True)
    assert r.http_version == "HTTP/2"
    expect(r, 200, "allow")
    expect(get(server, pki, "valid", f"/{OTHER}.cfg", http2=True), 403, "deny:mac-mismatch")


# -- review findings ------------------------------------------------------------

def test_an_acl_alone_requires_devices(server, pki):
    expect(get(server, pki, None, f"/aclonly/{ME}.cfg"), 403, "deny:no-cert", leaked=ME)
    expect(get(server, pki, "valid_ca2", f"/aclonly/{ME}.cfg"), 403, "deny:not-in-acl", leaked=ME)
    expect(get(server, pki, "valid", f"/aclonly/{ME}.cfg"), 200, "allow")


def test_mapped_file_outside_a_directory_section(server, pki):
    # <Location> settings, and a RewriteRule to a file under another phone's
    # directory: the whole mapped path is checked, not only its last part.
    expect(get(server, pki, "valid", "/loc/shared.cfg"), 200, "allow", leaked="nothing")
    expect(get(server, pki, "valid", "/loc/steal.cfg"), 403, "deny:mac-mismatch", leaked="locdir")


def test_mac_is_not_named_for_unverified_certificates(server, pki):
    # Before any access check (bootstrap directory), an impostor's CN names nobody.
    r = get(server, pki, "impostor", "/bootstrap/bootstrap.cfg")
    assert r.status == 200 and r.headers["x-mac"] == "(null)"
    r = get(server, pki, "valid", "/bootstrap/bootstrap.cfg")
    assert r.status == 200 and r.headers["x-mac"] == ME
