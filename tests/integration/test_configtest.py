"""Misconfigurations fail `apache2 -t` with the directive, the file:line and
the reason; correct ones pass."""

import os
import re
import shutil

import pytest

from harness.apache import Apache
from harness.vhosts import tls_vhost


@pytest.fixture
def apache(server_root):
    return Apache(server_root)


def vhost_with(apache, pki, body):
    return (f"<VirtualHost 127.0.0.1:{apache.port}>\n    ServerName cfg.test\n    SSLEngine on\n"
            f"    SSLCertificateFile {pki['server_cert']}\n    SSLCertificateKeyFile {pki['server_key']}\n"
            f"{body}</VirtualHost>\n")


def line_of(path, needle):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if needle in line:
                return n
    raise AssertionError(f"{needle!r} not in {path}")


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)
    return path


def test_a_correct_waiver_config_passes(apache, pki):
    rc, out = apache.configtest(tls_vhost(apache.port, "cfg.test", pki, waiver="leaf"))
    assert rc == 0 and "Syntax OK" in out, out


def test_waiver_without_anchor_file_fails_naming_the_directive(apache, pki):
    rc, out = apache.configtest(vhost_with(apache, pki, "    PolyProvAcceptExpired leaf\n"))
    assert rc != 0
    line = line_of(apache.conf, "PolyProvAcceptExpired leaf")
    assert f"PolyProvAcceptExpired leaf ({apache.conf}:{line}) needs PolyProvTrustAnchorFile" in out, out
    assert "PP102" in out


def test_anchor_file_inherited_from_the_main_server(apache, pki):
    rc, out = apache.configtest(f"PolyProvTrustAnchorFile {pki['anchors']}\n" +
                                vhost_with(apache, pki, "    PolyProvAcceptExpired chain\n"))
    assert rc == 0, out


def test_waiver_in_main_server_without_anchors_fails(apache, pki):
    rc, out = apache.configtest("PolyProvAcceptExpired chain\n")
    assert rc != 0
    assert f"PolyProvAcceptExpired chain ({apache.conf}:{line_of(apache.conf, 'PolyProvAcceptExpired chain')})" in out, out


def test_off_needs_no_anchor_file(apache, pki):
    rc, out = apache.configtest(vhost_with(apache, pki, "    PolyProvAcceptExpired off\n"))
    assert rc == 0, out


def test_unknown_mode_word(apache, pki):
    rc, out = apache.configtest(vhost_with(apache, pki, "    PolyProvAcceptExpired yes\n"))
    assert rc != 0
    assert f"Syntax error on line {line_of(apache.conf, 'PolyProvAcceptExpired yes')} of {apache.conf}" in out
    assert "PolyProvAcceptExpired: 'yes' is not one of off, leaf, chain" in out, out


def test_directives_are_not_allowed_in_directory_context(apache, pki):
    rc, out = apache.configtest("<Directory /srv>\n    PolyProvAcceptExpired leaf\n</Directory>\n")
    assert rc != 0 and "PolyProvAcceptExpired not allowed in <Directory> context" in out, out


def bad_anchor_cases(pki, d):
    with open(pki["devices"]["valid"]["leaf_only"], "rb") as f:
        leaf = f.read()
    with open(pki["anchors"], "rb") as f:
        root = f.read()
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    der = x509.load_pem_x509_certificate(root).public_bytes(serialization.Encoding.DER)
    return {
        "missing": (os.path.join(d, "missing.pem"), "cannot be read: No such file or directory"),
        "empty": (write(os.path.join(d, "empty.pem"), b""), "holds no PEM certificate"),
        "der": (write(os.path.join(d, "root.der"), der), "holds no PEM certificate"),
        "key": (write(os.path.join(d, "key.pem"), root + open(pki["leaf_key_only"], "rb").read()),
                'PEM block 2 is a "PRIVATE KEY", not a CERTIFICATE'),
        "leaf": (write(os.path.join(d, "leaf.pem"), leaf), "PEM block 1 is not a CA certificate"),
        "truncated": (write(os.path.join(d, "cut.pem"), root[: len(root) // 2]), "PEM block 1 is damaged"),
        "directory": (d, "is a directory, not a PEM file"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "der", "key", "leaf", "truncated", "directory"])
def test_bad_anchor_file(apache, pki, case):
    path, reason = bad_anchor_cases(pki, apache.root)[case]
    rc, out = apache.configtest(tls_vhost(apache.port, "cfg.test", pki, waiver="leaf", anchors=path))
    assert rc != 0, out
    assert f"Syntax error on line {line_of(apache.conf, 'PolyProvTrustAnchorFile')} of {apache.conf}" in out, out
    assert f"PolyProvTrustAnchorFile: {path}: {reason}" in out, out


def test_unreadable_anchor_file(apache, pki):
    # root reads any file, so the check runs apache2 -t as nobody.
    anchors = os.path.join(apache.root, "anchors.pem")
    shutil.copy(pki["anchors"], anchors)
    os.chmod(anchors, 0o000)
    os.chmod(apache.root, 0o755)
    config = (f"ServerRoot {apache.root}\nServerName 127.0.0.1\nListen 127.0.0.1:{apache.port}\n"
              f"ErrorLog /dev/null\n"
              f"LoadModule mpm_event_module {os.environ.get('POLYPROV_MODULE_DIR', '/usr/lib/apache2/modules')}/mod_mpm_event.so\n"
              f"LoadModule polyprov_module {os.environ['POLYPROV_MODULE']}\n"
              f"PolyProvTrustAnchorFile {anchors}\n")
    rc, out = apache.configtest(config_text=config, as_user=65534 if os.geteuid() == 0 else None)
    if os.geteuid() != 0:
        os.chmod(anchors, 0o644)
    assert rc != 0, out
    assert f"PolyProvTrustAnchorFile: {anchors}: cannot be read: Permission denied" in out, out


def test_waiver_needs_mod_ssl(apache, pki):
    config = (f"ServerRoot {apache.root}\nServerName 127.0.0.1\nListen 127.0.0.1:{apache.port}\n"
              f"ErrorLog {apache.root}/logs/error.log\n"
              f"LoadModule mpm_event_module {os.environ.get('POLYPROV_MODULE_DIR', '/usr/lib/apache2/modules')}/mod_mpm_event.so\n"
              f"LoadModule polyprov_module {os.environ['POLYPROV_MODULE']}\n"
              f"PolyProvTrustAnchorFile {pki['anchors']}\nPolyProvAcceptExpired leaf\n")
    rc, out = apache.configtest(config_text=config)
    assert rc != 0
    assert re.search(r"PP103 PolyProvAcceptExpired leaf \(.*:\d+\) needs mod_ssl", out), out


def test_ifmodule_sees_the_module(apache, pki):
    rc, out = apache.configtest("<IfModule !mod_polyprov.c>\n    ThisDirectiveDoesNotExist\n</IfModule>\n")
    assert rc == 0, out


def acl_vhost(apache, pki, directives):
    return tls_vhost(apache.port, "cfg.test", pki, verify="optional",
                     extra=f"    <Directory {apache.root}/htdocs>\n{directives}    </Directory>\n")


@pytest.mark.parametrize("text,reason", [
    ("0004F2000001\nnonsense\n", ":2: 'nonsense' is not a MAC address"),
    ("0004F2000001\n# x\n00:04:f2:00:00:01 label=again\n", ":3: duplicate MAC 0004F2000001 (first on line 1)"),
    ("0004F2000001 owner=me\n", ":1: unknown key 'owner' (known: label, sha256)"),
    ("0004F2000001 sha256=abcd\n", ":1: sha256 'abcd' is not 64 hex digits"),
])
def test_bad_acl_file_names_file_line_and_reason(apache, pki, text, reason):
    acl = write(os.path.join(apache.root, "phones.acl"), text)
    rc, out = apache.configtest(acl_vhost(apache, pki, f"        PolyProvRequireDevice on\n        PolyProvACLFile {acl}\n"))
    assert rc != 0
    assert f"Syntax error on line {line_of(apache.conf, 'PolyProvACLFile')} of {apache.conf}" in out, out
    assert f"PolyProvACLFile: {acl}{reason}" in out, out


def test_missing_acl_file(apache, pki):
    acl = os.path.join(apache.root, "none.acl")
    rc, out = apache.configtest(acl_vhost(apache, pki, f"        PolyProvACLFile {acl}\n"))
    assert rc != 0 and f"PolyProvACLFile: {acl}: cannot be read: No such file or directory" in out, out


@pytest.mark.parametrize("directive", ["PolyProvMACPattern", "PolyProvCNPattern"])
def test_bad_pattern(apache, pki, directive):
    rc, out = apache.configtest(acl_vhost(apache, pki, f"        {directive} \"([0-9a-f\"\n"))
    assert rc != 0 and f"{directive}: '([0-9a-f' is not a valid regular expression" in out, out


def test_access_directives_parse(apache, pki):
    acl = write(os.path.join(apache.root, "phones.acl"), "0004F2000001 label=\"front desk\"\n")
    rc, out = apache.configtest(acl_vhost(apache, pki,
        f"        PolyProvRequireDevice on\n        PolyProvACLFile {acl}\n        PolyProvMatchURI off\n"
        f"        PolyProvMACPattern \"[0-9a-f]{{12}}\"\n        PolyProvCNPattern \"^(?:SEP)?([0-9A-F]{{12}})$\"\n"))
    assert rc == 0, out


def test_flags_take_on_or_off(apache, pki):
    rc, out = apache.configtest(acl_vhost(apache, pki, "        PolyProvRequireDevice yes\n"))
    assert rc != 0 and "PolyProvRequireDevice must be On or Off" in out, out


@pytest.mark.parametrize("directive,value,reason", [
    ("PolyProvUploadMaxSize", "10MB", "PolyProvUploadMaxSize: '10MB' is not a size"),
    ("PolyProvUploadMaxSize", "0", "PolyProvUploadMaxSize: '0' is not a size"),
    ("PolyProvUploadMaxSize", "-5K", "PolyProvUploadMaxSize: '-5K' is not a size"),
    ("PolyProvUploadKeep", "many", "PolyProvUploadKeep: 'many' is not a number from 0 to 999"),
    ("PolyProvUploadKeep", "-1", "PolyProvUploadKeep: '-1' is not a number from 0 to 999"),
    ("PolyProvUploadKeep", "1000", "PolyProvUploadKeep: '1000' is not a number from 0 to 999"),
    ("PolyProvUpload", "yes", "PolyProvUpload must be On or Off"),
])
def test_bad_upload_settings(apache, pki, directive, value, reason):
    rc, out = apache.configtest(acl_vhost(apache, pki, f"        {directive} {value}\n"))
    assert rc != 0
    assert f"Syntax error on line {line_of(apache.conf, directive + ' ')} of {apache.conf}" in out, out
    assert reason in out, out


def test_upload_settings_parse(apache, pki):
    rc, out = apache.configtest(acl_vhost(apache, pki, "        PolyProvRequireDevice on\n        PolyProvUpload on\n"
                                          "        PolyProvUploadMaxSize 10M\n        PolyProvUploadKeep 0\n"))
    assert rc == 0, out


@pytest.mark.parametrize("section", ["Limit POST", "LimitExcept GET"])
@pytest.mark.parametrize("directive", ["PolyProvRequireDevice off", "PolyProvMatchURI off", "PolyProvUpload on",
                                       "PolyProvAllowMethods POST"])
def test_directives_are_refused_inside_limit(apache, pki, section, directive):
    # <Limit POST> PolyProvRequireDevice off would open the directory for POST only.
    tag = section.split()[0]
    rc, out = apache.configtest(acl_vhost(apache, pki, f"        PolyProvRequireDevice on\n"
                                                       f"        <{section}>\n            {directive}\n"
                                                       f"        </{tag}>\n"))
    assert rc != 0
    assert f"Syntax error on line {line_of(apache.conf, directive)} of {apache.conf}" in out, out
    assert "cannot occur within <Limit> or <LimitExcept> section" in out, out


@pytest.mark.parametrize("value,reason", [
    ("PROPFIND", "PolyProvAllowMethods: PROPFIND cannot be opened: its answer lists a directory"),
    ("GET", "PolyProvAllowMethods: GET cannot be opened: the module always decides it"),
    ("PUT", "PolyProvAllowMethods: PUT cannot be opened"),
    ("post", "PolyProvAllowMethods: 'post' is not a method name"),
])
def test_bad_allowed_methods(apache, pki, value, reason):
    rc, out = apache.configtest(acl_vhost(apache, pki, f"        PolyProvAllowMethods POST {value}\n"))
    assert rc != 0 and reason in out, out


def test_allowed_methods_parse(apache, pki):
    rc, out = apache.configtest(acl_vhost(apache, pki, "        PolyProvRequireDevice on\n"
                                                       "        PolyProvAllowMethods POST MOVE COPY\n"))
    assert rc == 0, out


# PolyProvACLQuery / PolyProvACLRefresh (issue 19): the database is mod_dbd's; nothing is queried by -t.
QUERY = '"SELECT mac FROM phones"'


def query_config(apache, pki, directives, dbd_in_vhost="", dbd_top=""):
    return dbd_top + tls_vhost(apache.port, "cfg.test", pki, verify="optional",
                               extra=dbd_in_vhost + f"    <Directory {apache.root}/htdocs>\n{directives}    </Directory>\n")


SQLITE = "DBDriver sqlite3\nDBDParams /nonexistent/phones.db\nDBDPersist Off\n"


@pytest.mark.parametrize("where", ["vhost", "top"])
def test_a_query_on_mod_dbds_settings_passes_without_the_database(apache, pki, where):
    body = f"        PolyProvACLQuery {QUERY}\n        PolyProvACLRefresh 2m\n"
    rc, out = apache.configtest(query_config(apache, pki, body, **{"dbd_in_vhost" if where == "vhost" else "dbd_top":
                                                                    SQLITE}), extra_modules=("dbd",))
    assert rc == 0 and "Syntax OK" in out, out


@pytest.mark.parametrize("directives,dbd,reason", [
    (f"        PolyProvACLQuery {QUERY}\n", "",
     "PolyProvACLQuery needs mod_dbd's DBDriver and DBDParams, written directly in this <VirtualHost> or at the top"),
    (f"        PolyProvACLQuery {QUERY}\n", "DBDriver sqlite3\n",
     "PolyProvACLQuery needs mod_dbd's DBDriver and DBDParams"),
    ('        PolyProvACLQuery "  "\n', SQLITE, "PolyProvACLQuery: the query is empty"),
    # mod_dbd takes it (the driver is installed); the module does not read lists through it.
    (f"        PolyProvACLQuery {QUERY}\n", "DBDriver mysql\nDBDParams \"host=127.0.0.1\"\n",
     "PolyProvACLQuery: DBDriver mysql: not a driver PolyProvACLQuery reads lists with (sqlite3, pgsql)"),
    (f"        PolyProvACLQuery {QUERY}\n        PolyProvACLFile /etc/hosts\n", SQLITE,
     "PolyProvACLFile: this section has a PolyProvACLQuery already: one list a section"),
    (f"        PolyProvACLFile {{acl}}\n        PolyProvACLQuery {QUERY}\n", SQLITE,
     "PolyProvACLQuery: this section has a PolyProvACLFile already: one list a section"),
    (f"        PolyProvACLRefresh 10s\n        PolyProvACLQuery {QUERY}\n", SQLITE,
     "PolyProvACLRefresh: must follow the PolyProvACLQuery it sets, in the same section"),
    (f"        PolyProvACLQuery {QUERY}\n        PolyProvACLRefresh 0s\n", SQLITE,
     "PolyProvACLRefresh: '0s' is not a duration from 1s to 1d"),
    (f"        PolyProvACLQuery {QUERY}\n        PolyProvACLRefresh 2d\n", SQLITE,
     "PolyProvACLRefresh: '2d' is not a duration from 1s to 1d"),
    (f"        PolyProvACLQuery {QUERY}\n        PolyProvACLRefresh soon\n", SQLITE,
     "PolyProvACLRefresh: 'soon' is not a duration"),
])
def test_bad_query_settings_name_line_and_reason(apache, pki, directives, dbd, reason):
    acl = write(os.path.join(apache.root, "phones.acl"), "0004F2000001\n")
    directives = directives.replace("{acl}", acl)
    rc, out = apache.configtest(query_config(apache, pki, directives, dbd_in_vhost=dbd), extra_modules=("dbd",))
    assert rc != 0, out
    failing = reason.split(":")[0].split(" ")[0]
    assert re.search(rf"Syntax error on line {line_of(apache.conf, failing + ' ')} of {re.escape(apache.conf)}", out), out
    assert reason in out, out
