"""CRLs for the test PKI (harness/pki.py), signed with its CAs' own keys,
and the files a CRL server publishes, under the names Poly's distribution
points use."""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .pki import POLICY_CRL_URL, ROOT_CRL_URL, _key, _key_pem, _name, _pem

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)

# File names, as the distribution points name them (and as fetch-crl asks
# a mirror for them); Poly's issuing CAs' own CRLs, if any, are a guess.
ROOT_CRL = ROOT_CRL_URL.rsplit("/", 1)[1]
POLICY_CRL = POLICY_CRL_URL.rsplit("/", 1)[1]
ISSUING1_CRL = "Polycom%20Equipment%20Issuing%20CA%201.crl"


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def crl(authority, revoked=(), this_update=-DAY, next_update=30 * DAY, signer=None, issuer=None):
    """A CRL of `authority` (signed by `signer`'s key if given, named `issuer` if given).
    revoked: serials, or (serial, revocation date, x509.ReasonFlags or None) tuples."""
    t = now()
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer or authority.name)
               .last_update(t + this_update).next_update(t + next_update))
    for entry in revoked:
        serial, when, reason = entry if isinstance(entry, tuple) else (entry, t - 2 * DAY, None)
        revoked_builder = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason is not None:
            revoked_builder = revoked_builder.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(revoked_builder.build())
    return builder.sign((signer or authority).key, hashes.SHA256())


def der(c):
    return c.public_bytes(serialization.Encoding.DER)


def pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


def publish(directory, files):
    """Writes {file name as in the URL (with %20): bytes} into `directory` as a web server serves them."""
    os.makedirs(directory, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(directory, name.replace("%20", " ")), "wb") as f:
            f.write(data)
    return directory


def serial_of(cert_path):
    with open(cert_path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).serial_number


def revoked_then_dropped(pki, device="revoked_expired"):
    """Issuing CA 1's CRL revoking `device` (an expired phone: revoked 400 days ago, key
    compromised), then a newer CRL of the same CA without the entry, as RFC 5280 lets a CA
    drop an expired certificate. Returns (older, newer) CRL objects."""
    issuing1 = pki["authorities"]["issuing1"]
    serial = serial_of(pki["devices"][device]["leaf_only"])
    older = crl(issuing1, [(serial, now() - 400 * DAY, x509.ReasonFlags.key_compromise)], this_update=-2 * DAY)
    newer = crl(issuing1, [], this_update=-HOUR)
    return older, newer


def new_device(pki, directory, mac, not_before_days=-30, not_after_days=3650, authority="issuing1"):
    """A further phone certificate (chain included) and key under one of the PKI's CAs, written
    to `directory`; returns {"cert", "key", "serial", "mac"} like pki["devices"] entries."""
    ca = pki["authorities"][authority]
    key = _key(2048)
    t = now()
    issued = ca.issue(_name(mac), key, t + not_before_days * DAY, t + not_after_days * DAY)
    os.makedirs(directory, exist_ok=True)
    cert_path = os.path.join(directory, f"device-{mac}.pem")
    key_path = os.path.join(directory, f"device-{mac}.key")
    with open(cert_path, "wb") as f:
        f.write(b"".join(_pem(c) for c in [issued.cert] + issued.chain))
    with open(key_path, "wb") as f:
        f.write(_key_pem(key))
    os.chmod(cert_path, 0o644)
    os.chmod(key_path, 0o644)
    return {"cert": cert_path, "key": key_path, "serial": issued.cert.serial_number, "mac": mac}


__all__ = ["crl", "der", "pem", "publish", "serial_of", "revoked_then_dropped", "new_device", "ROOT_CRL",
           "POLICY_CRL", "ISSUING1_CRL", "DAY", "HOUR"]
