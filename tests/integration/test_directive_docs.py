"""The directive reference (doc/directives.md) documents every directive of
the module's table and no other, and each entry's context, override and
default are the table's: its flags, and the default its help string names
(what `apache2 -L` prints), which for the numeric defaults is checked
against the constants the code uses."""

import os
import re

SRC = os.environ.get("POLYPROV_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
REFERENCE = os.path.join(SRC, "doc", "directives.md")


def read(*path):
    with open(os.path.join(SRC, *path)) as f:
        return f.read()


def declared():
    """name -> (flags, help) from the AP_INIT_* table in mod_polyprov.c."""
    table = {}
    for m in re.finditer(r'AP_INIT_\w+\("(\w+)",\s*\w+,\s*NULL,\s*([\w |]+),\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\)',
                         read("mod_polyprov", "mod_polyprov.c")):
        help_text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(3)))
        table[m.group(1)] = ({f.strip() for f in m.group(2).split("|")}, help_text)
    return table


def documented():
    """name -> {row: cell} from each entry's table in the reference."""
    entries = {}
    for m in re.finditer(r"^## (PolyProv\w+)\n(.*?)(?=^## |\Z)", read("doc", "directives.md"), re.M | re.S):
        entries[m.group(1)] = dict(re.findall(r"^\| (\w+) \| (.*) \|$", m.group(2), re.M))
        entries[m.group(1)]["text"] = m.group(2)
    return entries


def test_reference_matches_directive_table():
    assert declared(), "found no directives in mod_polyprov.c"
    assert set(declared()) == set(documented())


def test_each_entry_has_the_table_shape():
    for name, rows in documented().items():
        for row in ("Syntax", "Default", "Context", "Override", "Module", "Compatibility"):
            assert row in rows, f"{name}: no {row} row"
        assert rows["Syntax"].startswith(f"`{name} "), name
        assert rows["Module"] == "mod_polyprov", name
        assert f"```apache\n" in rows["text"] and name in rows["text"].split("```apache", 1)[1], f"{name}: no example"


def test_contexts_are_the_tables():
    for name, (flags, _) in declared().items():
        rows = documented()[name]
        expected = ["server config", "virtual host"] if "RSRC_CONF" in flags else []
        if "ACCESS_CONF" in flags:
            expected.append("directory")
        assert rows["Context"] == ", ".join(expected), name
        htaccess = [f for f in flags if f.startswith("OR_")]
        assert rows["Override"].startswith("none") == (not htaccess), name


def test_defaults_are_the_tables():
    for name, (_, help_text) in declared().items():
        m = re.search(r"; default: ([^;]+)$", help_text)
        assert m, f"{name}: its help string names no default"
        default = m.group(1)
        cell = documented()[name]["Default"].replace("`", "")
        cell = cell[len(name) + 1:] if cell.startswith(name + " ") else cell
        assert cell.startswith(default), f"{name}: the reference says {cell!r}, the table {default!r}"


def test_numeric_defaults_are_the_codes():
    """The help strings' numbers are the constants the code falls back on."""
    dirs = read("mod_polyprov", "httpd", "dir_config.hpp")
    fleet = read("mod_polyprov", "httpd", "fleet_config.hpp")
    table = declared()
    size = re.search(r"kDefaultUploadMax = (\d+)ull << 20;", dirs)
    assert size and table["PolyProvUploadMaxSize"][1].endswith(f"default: {size.group(1)}M")
    keep = re.search(r"kDefaultUploadKeep = (\d+);", dirs)
    assert keep and table["PolyProvUploadKeep"][1].endswith(f"default: {keep.group(1)}")
    expire = re.search(r"kDefaultFleetExpire = (\d+) \* 86400;", fleet)
    assert expire and table["PolyProvFleetExpire"][1].endswith(f"default: {expire.group(1)}d")


def test_readme_example_vhost_passes_configtest(pki, server_root):
    """The README's example, with its paths pointed at test files, is valid."""
    from harness.apache import Apache
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    example = re.search(r"```apache\n(<VirtualHost \*:443>.*?</VirtualHost>)\n```", text, re.S).group(1)
    apache = Apache(server_root)
    acl = os.path.join(server_root, "phones.acl")
    with open(acl, "w") as f:
        f.write(re.search(r"^# MAC in any notation.*?(?=```)", text, re.S | re.M).group(0))
    docroot = os.path.join(server_root, "htdocs")
    for old, new in {"/etc/ssl/certs/prov.example.com.pem": pki["server_cert"],
                     "/etc/ssl/private/prov.example.com.key": pki["server_key"],
                     "/etc/polyprov/polycom-ca.pem": pki["ca_bundle"],
                     "/etc/polyprov/polycom-root.pem": pki["anchors"],
                     "/etc/polyprov/phones.acl": acl,
                     "/srv/polycom": docroot,
                     "*:443": f"127.0.0.1:{apache.port}"}.items():
        example = example.replace(old, new)
    rc, out = apache.configtest(example + "\n")
    assert rc == 0, out
