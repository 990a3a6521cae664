"""The benchmarks' PKI: Polycom-shaped CAs (RSA-4096 root, policy and issuing
CA, as tests/integration/harness/pki.py makes them), a server certificate
in RSA-2048 and one in ECDSA P-256 under a server CA, and a fleet of phones
with distinct certificates under Issuing CA 1, plus one expired phone.

The phones' leaves are ECDSA P-256 rather than the RSA-2048 of real
factory certificates: 1,000 of them are made in seconds, and the client's
share of each handshake (its CertificateVerify signature) stays small, so
the load generator is not what is measured. The server's share barely
changes: it verifies the chain (RSA-4096 signatures over each certificate,
as with real phones) and one ECDSA signature instead of one RSA-2048
signature, both cheap next to its own RSA-2048 signature.

Generated once into a cache directory (POLYPROV_BENCH_CACHE, default
/var/tmp/polyprov-bench) and reused; a larger fleet extends it. Every key
here is worthless outside a benchmark."""

import datetime
import json
import multiprocessing
import os

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import common

pki_mod = common.harness("pki")

CACHE = os.environ.get("POLYPROV_BENCH_CACHE", "/var/tmp/polyprov-bench")
DAY = datetime.timedelta(days=1)
FIRST_MAC = 0x0004F2100000


def mac_of(i):
    return f"{FIRST_MAC + i:012X}"


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path, data, mode=0o644):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.chmod(path + ".tmp", mode)
    os.rename(path + ".tmp", path)
    return path


def _load_authority(directory, name, parent=None):
    """An Authority from its saved certificate and key (the harness class,
    without generating a new key)."""
    a = pki_mod.Authority.__new__(pki_mod.Authority)
    with open(os.path.join(directory, f"{name}.pem"), "rb") as f:
        a.cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(directory, f"{name}.key"), "rb") as f:
        a.key = serialization.load_pem_private_key(f.read(), None)
    a.name, a.parent, a._serial = a.cert.subject, parent, 100000
    return a


def _make_cas(d):
    root = pki_mod.Authority("Polycom Root CA", 4096)
    policy = pki_mod.Authority("Polycom Equipment Policy CA", 4096, root)
    issuing = pki_mod.Authority("Polycom Equipment Issuing CA 1", 4096, policy)
    server_ca = pki_mod.Authority("Bench Provisioning Server CA", 2048, org="mod_polyprov bench")
    for name, a in (("root", root), ("policy", policy), ("issuing", issuing), ("server-ca", server_ca)):
        _write(os.path.join(d, f"{name}.key"), _key_pem(a.key), 0o600)
        _write(os.path.join(d, f"{name}.pem"), _pem(a.cert))
    _write(os.path.join(d, "polycom-root.pem"), _pem(root.cert))
    _write(os.path.join(d, "polycom-ca.pem"), b"".join(_pem(c) for c in (root.cert, policy.cert, issuing.cert)))
    now = pki_mod.NOW
    valid = (now - 365 * DAY, now + 3650 * DAY)
    sans = [x509.DNSName("localhost"), x509.DNSName("prov.bench.test")]
    for kind, key in (("rsa", pki_mod._key(2048)), ("ecdsa", ec.generate_private_key(ec.SECP256R1()))):
        cert = server_ca.issue(pki_mod._name("localhost", "mod_polyprov bench"), key, *valid, sans=sans,
                               server=True).cert
        _write(os.path.join(d, f"server-{kind}.pem"), _pem(cert))
        _write(os.path.join(d, f"server-{kind}.key"), _key_pem(key), 0o600)
    # One phone with an expired factory certificate: the waiver's cost.
    key = ec.generate_private_key(ec.SECP256R1())
    expired = issuing.issue(pki_mod._name(mac_of(999999)), key, now - 3000 * DAY, now - 300 * DAY)
    _write(os.path.join(d, "phone-expired.pem"), b"".join(_pem(c) for c in [expired.cert] + expired.chain))
    _write(os.path.join(d, "phone-expired.key"), _key_pem(key), 0o600)


def _issue_phones(d, indexes):
    root = _load_authority(d, "root")
    policy = _load_authority(d, "policy", root)
    issuing = _load_authority(d, "issuing", policy)
    now = pki_mod.NOW
    for i in indexes:
        issuing._serial = 10000000 + i - 1  # the phone's own serial, whichever worker signs it
        mac = mac_of(i)
        base = os.path.join(d, "phones", mac)
        key = ec.generate_private_key(ec.SECP256R1())
        issued = issuing.issue(pki_mod._name(mac), key, now - 365 * DAY, now + 3650 * DAY)
        chain = b"".join(_pem(c) for c in [issued.cert] + issued.chain)
        _write(base + ".pem", chain)
        _write(base + ".key", _key_pem(key), 0o600)
        _write(base + ".both.pem", chain + _key_pem(key), 0o600)


def load(phones):
    """Paths of the PKI with at least `phones` phones, made or extended as
    needed: {"dir", "anchors", "ca_bundle", "server_ca", "server": {"rsa":
    (cert, key), "ecdsa": ...}, "phones": [{"mac", "cert", "key", "both"}],
    "expired": {...}}. "both" is cert chain and key in one file (ab -E)."""
    d = os.path.join(CACHE, "pki")
    os.makedirs(os.path.join(d, "phones"), exist_ok=True)
    os.chmod(CACHE, 0o755)
    os.chmod(d, 0o755)
    if not os.path.exists(os.path.join(d, "phone-expired.key")):
        _make_cas(d)
    missing = [i for i in range(phones) if not os.path.exists(os.path.join(d, "phones", mac_of(i) + ".both.pem"))]
    if missing:
        # Each leaf costs an RSA-4096 signature (about 6 ms): 100,000 of
        # them take minutes, so every core signs its share.
        workers = max(1, min(os.cpu_count() or 1, len(missing) // 500))
        if workers == 1:
            _issue_phones(d, missing)
        else:
            with multiprocessing.Pool(workers) as pool:
                pool.starmap(_issue_phones, [(d, missing[k::workers]) for k in range(workers)])
    out = []
    for i in range(phones):
        base = os.path.join(d, "phones", mac_of(i))
        out.append({"mac": mac_of(i), "cert": base + ".pem", "key": base + ".key", "both": base + ".both.pem"})
    paths = {
        "dir": d, "anchors": os.path.join(d, "polycom-root.pem"), "ca_bundle": os.path.join(d, "polycom-ca.pem"),
        "server_ca": os.path.join(d, "server-ca.pem"),
        "server": {k: (os.path.join(d, f"server-{k}.pem"), os.path.join(d, f"server-{k}.key")) for k in ("rsa", "ecdsa")},
        "phones": out,
        "expired": {"mac": mac_of(999999), "cert": os.path.join(d, "phone-expired.pem"),
                    "key": os.path.join(d, "phone-expired.key")},
    }
    with open(os.path.join(CACHE, "pki.json"), "w") as f:
        json.dump({k: v for k, v in paths.items() if k != "phones"}, f, indent=1)
    return paths
