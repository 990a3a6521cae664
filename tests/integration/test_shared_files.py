"""PolyProvSharedFiles against a real apache2: where it is set, a name that no
device owns is served to a phone only if one of its globs lists it; a user's
profile (alice.cfg, which carries her credentials) is nobody's, however it
is asked for, and the fleet view counts the refusal."""

import os
import re
import shutil

import pytest

from harness.apache import Apache, free_port, new_server_root
from harness.clients import curl
from harness.files import write_file as write
from harness.fleet import by_mac, fetch, fleet_json, plain_status_vhost, wait_for
from harness.vhosts import tls_vhost

ME, OTHER = "0004F2000001", "0004F2000002"
SECRET = "alice-sip-password"
GLOBS = "000000000000*.cfg *.ld SoundPointIPLocalization/"


@pytest.fixture(scope="module")
def server(pki):
    apache = Apache(new_server_root())
    root = apache.root
    prov = os.path.join(root, "htdocs", "polycom")
    loc = os.path.join(root, "bylocation")
    for name in ("000000000000.cfg", "000000000000-sip.cfg", "sip.ld", f"{ME}.cfg", f"{OTHER}.cfg",
                 "SoundPointIPLocalization/English_United_States/SoundPointIP-dictionary.xml",
                 "Firmware.LD", "soundpointiplocalization/German_Germany/SoundPointIP-dictionary.xml"):
        write(os.path.join(prov, name), f"content of {name}\n")
    for name in ("alice.cfg", "alice-directory.xml", "profiles/alice.cfg", f"{ME}/alice.cfg", "pi/alice.cfg",
                 "loose/441234567890.cfg", f"loose/{OTHER}.cfg", "fw/alice.cfg"):
        write(os.path.join(prov, name), f"{SECRET} in {name}\n")
    for name in ("fw.ld", "alice.cfg", "notes"):
        write(os.path.join(loc, name), f"{'content' if name == 'fw.ld' else SECRET} of {name}\n")
    acl = os.path.join(root, "conf", "phones.acl")
    write(acl, f"{ME} label=desk\n{OTHER}\n")
    status_port = free_port()
    site = f"""
    Alias /prov/ {prov}/
    Alias /byloc/ {loc}/
    <Directory {prov}>
        Options -Indexes
        PolyProvACLFile {acl}
        PolyProvSharedFiles {GLOBS}
    </Directory>
    <Directory {prov}/pi>
        AcceptPathInfo On
    </Directory>
    <Directory {prov}/loose>
        PolyProvMatchURI off
    </Directory>
    <Directory {loc}>
        Require all granted
    </Directory>
    <Location /byloc/>
        PolyProvACLFile {acl}
        PolyProvSharedFiles *.ld */
    </Location>
"""
    config = (f"PolyProvFleet shmcb:{root}/run/fleet(1048576)\n" +
              tls_vhost(apache.port, "access.test", pki, verify="optional_no_ca", extra=site) +
              plain_status_vhost(status_port))
    apache.status_port = status_port
    apache.start(config, extra_modules=("alias", "authz_host"))
    yield apache
    apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(root, ignore_errors=True)


def get(server, pki, path, device="valid"):
    d = pki["devices"][device]
    r = curl("access.test", server.port, path=path, cert=d["cert"], key=d["key"], cacert=pki["server_ca"])
    assert r.ok, r.error
    assert SECRET.encode() not in r.body, f"{path}: a user's profile was served"
    return r.status, r.headers.get("x-decision")


@pytest.mark.parametrize("path", [
    "/polycom/000000000000.cfg", "/polycom/000000000000-sip.cfg", "/polycom/sip.ld",
    "/polycom/SoundPointIPLocalization/English_United_States/SoundPointIP-dictionary.xml",
    "/prov/sip.ld",                               # through an Alias: the file's place decides
    f"/polycom/{ME}.cfg",                         # the phone's own: not the globs' business
    "/byloc/fw.ld",                               # in a <Location>: the URI below it
    "/polycom/Firmware.LD",                       # globs are blind to case, as Poly's file names vary
    "/polycom/soundpointiplocalization/German_Germany/SoundPointIP-dictionary.xml",   # a dir/ glob too
])
def test_listed_names_and_the_phones_own_are_served(server, pki, path):
    assert get(server, pki, path) == (200, "allow")


def test_a_directory_named_after_the_phone_is_its_own(server, pki):
    # The profile below the phone's own directory is the phone's to read:
    # only a file that names no device is governed by the globs.
    d = pki["devices"]["valid"]
    r = curl("access.test", server.port, path=f"/polycom/{ME}/alice.cfg", cert=d["cert"], key=d["key"],
             cacert=pki["server_ca"])
    assert (r.status, r.headers.get("x-decision")) == (200, "allow")


@pytest.mark.parametrize("path", [
    "/polycom/alice.cfg",
    "/polycom/alice-directory.xml",
    "/polycom/profiles/alice.cfg",                # a directory below: '*' does not cross '/'
    "/polycom/%61lice.cfg",                       # percent-encoded
    "/polycom/%2561lice.cfg",                     # encoded twice: a name that does not exist, still refused
    "/polycom/ALICE.CFG",                         # case: refused before the file system is asked
    "/polycom/./alice.cfg", "/polycom/sub/../alice.cfg", "/polycom//alice.cfg",
    "/polycom/SoundPointIPLocalization/../alice.cfg",
    "/polycom/000000000000.cfg/../alice.cfg",
    "/polycom/alice.cfg/",                        # a trailing slash
    "/polycom/000000000000.cfg/",                 # a listed name with path info is not the listed name
    "/polycom/000000000000.cfg;alice",            # a path parameter
    "/polycom/sip.ld.cfg",
    "/prov/alice.cfg",                            # through the Alias
    "/polycom/missing.cfg",                       # does not exist: 403 as well, never a 404 that tells
    "/polycom/",                                  # the section's own directory: a listing names profiles
    "/byloc/alice.cfg",                           # "*/" names directories, not files (review finding)
    "/byloc/notes",                               # ... not even a file without a dot
    f"/polycom/pi/alice.cfg/{ME}",                # AcceptPathInfo on: path info names nothing served (review finding)
    "/polycom/loose/441234567890.cfg",            # MatchURI off: a phone number is no MAC (review finding)
    f"/polycom/loose/{OTHER}.cfg",                # MatchURI off: only the device's own is exempt
])
def test_everything_else_is_not_shared(server, pki, path):
    assert get(server, pki, path) == (403, "deny:not-shared")


def test_another_phones_file_is_still_a_mismatch(server, pki):
    assert get(server, pki, f"/polycom/{OTHER}.cfg") == (403, "deny:mac-mismatch")


def not_shared_total(server):
    """?metrics' count of not-shared refusals, summed over every process."""
    r = fetch(server.status_port, "/fleet?metrics", host="localhost", scheme="http")
    assert r.ok and r.status == 200, (r.status, r.error)
    found = re.search(r'^polyprov_decisions_total\{decision="deny:not-shared"\} (\d+)$', r.body.decode(), re.M)
    return int(found.group(1)) if found else 0


def test_the_refusal_is_logged_and_counted_in_the_fleet_view(server, pki):
    mark = server.log_mark()
    before = not_shared_total(server)
    assert get(server, pki, "/polycom/profiles/alice.cfg") == (403, "deny:not-shared")
    lines = [line for line in server.log_since(mark).splitlines() if "PP201" in line]
    assert len(lines) == 1, lines
    assert re.search(rf"denied GET: MAC {ME}, path /polycom/profiles/alice.cfg: not-shared, "
                     r"'profiles/alice\.cfg' matches no PolyProvSharedFiles glob", lines[0]), lines[0]

    def counted():
        doc = fleet_json(server.status_port, host="localhost", scheme="http")
        me = by_mac(doc["devices"]).get(ME)
        return bool(me and me["denials"].get("not-shared", 0) >= 1 and
                    me["last_request"]["decision"] == "deny:not-shared"), me
    me = wait_for("the not-shared refusal in the fleet view", counted)
    assert me["last_request"]["status"] == 403, me
    # And in ?metrics, once.
    wait_for("the not-shared refusal in ?metrics", lambda: (not_shared_total(server) >= before + 1, None))
    assert not_shared_total(server) == before + 1


@pytest.mark.parametrize("section,reason", [
    ('<DirectoryMatch "^/srv/polycom">', "not in <DirectoryMatch>"),
    ('<Directory ~ "^/srv/polycom">', "not in <Directory ~"),
    ('<Directory "~" "^/srv/polycom">', "not in <Directory ~"),     # quoted, as core reads it (review finding)
    ('<Location "~" "^/prov">', "not in <Location ~"),
    ('<Files "*.cfg">', "not in <Files>"),
])
def test_a_section_without_a_path_below_it_fails_configtest(server_root, pki, section, reason):
    apache = Apache(server_root)
    tag = section.split()[0].lstrip("<")
    body = f"    {section}\n        PolyProvSharedFiles *.ld\n    </{tag}>\n"
    rc, out = apache.configtest(tls_vhost(apache.port, "cfg.test", pki, extra=body))
    assert rc != 0, out
    assert "PolyProvSharedFiles: only in a <Directory> or <Location> with a plain path" in out, out
    assert reason in out and apache.conf in out, out


def test_a_glob_it_cannot_mean_fails_configtest_naming_it(server_root, pki):
    apache = Apache(server_root)
    body = "    <Directory /srv/polycom>\n        PolyProvSharedFiles *.ld [0-9]*.cfg\n    </Directory>\n"
    rc, out = apache.configtest(tls_vhost(apache.port, "cfg.test", pki, extra=body))
    assert rc != 0, out
    assert "PolyProvSharedFiles: '[0-9]*.cfg': brackets and backslashes are not glob characters here" in out, out
    with open(apache.conf) as f:
        line = next(n for n, text in enumerate(f, 1) if "[0-9]" in text)
    assert f"line {line} of {apache.conf}" in out, out


@pytest.mark.parametrize("path", ["/p/*", "/p//q", "/p/../q"])
def test_a_location_that_matches_no_plain_path_fails_configtest(server_root, pki, path):
    apache = Apache(server_root)
    body = f"    <Location {path}>\n        PolyProvSharedFiles *.ld\n    </Location>\n"
    rc, out = apache.configtest(tls_vhost(apache.port, "cfg.test", pki, extra=body))
    assert rc != 0, out
    assert f"PolyProvSharedFiles: not in <Location {path}>: give it a plain, normalised path" in out, out
