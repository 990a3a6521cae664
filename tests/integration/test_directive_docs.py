"""Every directive the module's table declares is documented in the README's
directive reference, and the reference documents no directive the table lacks."""

import os
import re

SRC = os.environ.get("POLYPROV_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def declared():
    with open(os.path.join(SRC, "mod_polyprov", "mod_polyprov.c")) as f:
        return set(re.findall(r'AP_INIT_\w+\("(\w+)"', f.read()))


def documented():
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    reference = text.split("## Directive reference", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^### (PolyProv\w+)", reference, re.M))


def test_reference_matches_directive_table():
    assert declared(), "found no directives in mod_polyprov.c"
    assert declared() == documented()


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
