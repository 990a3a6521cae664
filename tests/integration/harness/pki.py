"""A test PKI shaped like Polycom's device PKI.

Real chain:   Polycom Root CA -> Polycom Equipment Policy CA
              -> Polycom Equipment Issuing CA 1 | 2 -> device (O=Polycom Inc., CN=<MAC>)
The CAs are RSA-4096/SHA-256 like the real ones (tests/fixtures/poly-pki),
with the same CN-only names and the same extensions in the same order, so
that only their keys tell them apart from Poly's. Around it: an impostor
hierarchy with the very same names, a retired (expired) issuing CA, another
vendor's root that the server trusts but that is no anchor, a server CA, and
device leaves with every fault the waiver must (not) forgive.

Every key here is generated at run time and is worthless outside a test.
"""

import datetime
import ipaddress
import os
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID, ObjectIdentifier

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def _key(bits):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _name(cn, org="Polycom Inc."):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


@dataclass
class Issued:
    cert: x509.Certificate
    key: object
    chain: list = field(default_factory=list)  # certificates sent after the leaf


def poly_crl_url(cn):
    """Where Poly's CAs say the CRL of the CA named `cn` is (crlDistributionPoints)."""
    return "http://crl.polycom.com/crl/" + cn.replace(" ", "%20") + ".crl"


def poly_cert_url(cn):
    """Where Poly's CAs say the certificate of the CA named `cn` is (AIA caIssuers)."""
    return "http://pki.polycom.com/pki/" + cn.replace(" ", "%20") + ".crt"


ROOT_CRL_URL = poly_crl_url("Polycom Root CA")
POLICY_CRL_URL = poly_crl_url("Polycom Equipment Policy CA")

# Extensions of Poly's CAs that cryptography has no type for, as Poly's root
# encodes them: a Microsoft CA's version (INTEGER 0, on all four CAs) and its
# certificate template name (BMPString "CA", on the root alone).
MS_CA_VERSION = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.311.21.1"), bytes.fromhex("020100"))
MS_TEMPLATE_NAME = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.311.20.2"), bytes.fromhex("1e0400430041"))
POLY_POLICY = x509.CertificatePolicies([x509.PolicyInformation(
    ObjectIdentifier("1.3.6.1.4.1.13885.101.2.1"), ["http://pki.polycom.com/cps/"])])
# digitalSignature, keyCertSign, cRLSign, not critical, on every Poly CA.
CA_KEY_USAGE = x509.KeyUsage(True, False, False, False, False, True, True, False, False)


def _ca_name(cn, org=None):
    """Poly's CAs name themselves by a CN alone, a PrintableString."""
    if org:
        return _name(cn, org)
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn, _type=_ASN1Type.PrintableString)])


class Authority:
    """A CA with the extensions of Poly's, in the order Poly's carry them: a
    root like the Polycom Root CA, one directly under a root like the
    Equipment Policy CA (with its certificate policy), one further down like
    an Equipment Issuing CA. crl_url replaces the CRL distribution point that
    names the parent's CRL at crl.polycom.com."""

    def __init__(self, cn, bits, parent=None, org=None, not_before=None, not_after=None, crl_url=None):
        self.key = _key(bits)
        self.cn = cn
        self.name = _ca_name(cn, org)
        self.parent = parent
        self._serial = 1000
        not_before = not_before or NOW - 3650 * DAY
        not_after = not_after or datetime.datetime(2044, 1, 1, tzinfo=datetime.timezone.utc)
        issuer = parent or self
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        builder = (x509.CertificateBuilder()
                   .subject_name(self.name).issuer_name(issuer.name)
                   .public_key(self.key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after))
        basic = x509.BasicConstraints(ca=True, path_length=None)
        if parent is None:
            extensions = [(MS_TEMPLATE_NAME, False), (CA_KEY_USAGE, False), (basic, True), (ski, False),
                          (MS_CA_VERSION, False)]
        else:
            parent_ski = parent.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            extensions = [(basic, True), (ski, False), (CA_KEY_USAGE, False), (MS_CA_VERSION, False)]
            if parent.parent is None:
                extensions.append((POLY_POLICY, False))
            extensions += [
                (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(parent_ski), False),
                (x509.CRLDistributionPoints([x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(crl_url or poly_crl_url(parent.cn))],
                    relative_name=None, reasons=None, crl_issuer=None)]), False),
                (x509.AuthorityInformationAccess([x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(poly_cert_url(parent.cn)))]), False)]
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        self.cert = builder.sign(issuer.key, hashes.SHA256())

    def chain_up(self):
        """This CA and its parents below the root, as a client sends them."""
        out, ca = [], self
        while ca.parent is not None:
            out.append(ca.cert)
            ca = ca.parent
        return out

    def issue(self, subject, key, not_before, not_after, sans=None, server=False):
        self._serial += 1
        builder = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(self.name)
                   .public_key(key.public_key()).serial_number(self._serial)
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH] if server else
                       [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return Issued(builder.sign(self.key, hashes.SHA256()), key, self.chain_up())

    def crl(self, revoked_serials):
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(self.name).last_update(NOW - DAY).next_update(NOW + 30 * DAY))
        for serial in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - 2 * DAY).build())
        return builder.sign(self.key, hashes.SHA256())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _bad_signature(cert):
    """The same certificate with one bit of its signature flipped."""
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


def _self_signed(cn, key, not_before, not_after):
    name = _name(cn)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))


# Device leaves: name -> MAC in the CN. The names say what is wrong with them.
DEVICES = {
    "valid": "0004F2000001",
    "valid_ca2": "64167F000002",
    "expired": "0004F2000003",
    "expired_under_retired_ca": "0004F2000004",
    "valid_under_retired_ca": "0004F2000005",
    "not_yet_valid": "0004F2000006",
    "revoked_expired": "0004F2000007",
    "bad_signature": "0004F2000008",
    "bad_signature_expired": "0004F2000009",
    "impostor": "0004F200000A",
    "impostor_expired": "0004F200000B",
    "self_signed": "0004F200000C",
    "self_signed_expired": "0004F200000D",
    "other_ca_expired": "0004F200000E",
    "other_ca_valid": "0004F200000F",
}


# Valid certificates under Issuing CA 1 whose CN is odd: name -> CN (None: no CN).
CN_VARIANTS = {
    "cn_two_macs": "0004F2000010 0004F2000011",
    "cn_extra_text": "VVX 0004F2000012",
    "cn_lower": "0004f2000013",
    "cn_none": None,
    "cn_13_digits": "0004F20000140",
    "cn_cisco": "SEP0004F2000015",
}


# Valid certificates under Issuing CA 1 whose subject can be read as two
# identities: name -> CN values in subject order.
SUBJECT_VARIANTS = {
    "cn_two_cns": ["0004F2000002", "0004F2000001"],        # mod_ssl shows the first, the last is ours
    "cn_nul": ["0004F2000001\x00 0004F2000002"],           # a C string stops at the NUL
}


def generate(out_dir, ca_bits=4096, server_names=("localhost",)):
    """Writes the PKI to out_dir and returns a dict of useful paths."""
    os.makedirs(out_dir, exist_ok=True)
    root = Authority("Polycom Root CA", ca_bits)
    policy = Authority("Polycom Equipment Policy CA", ca_bits, root)
    issuing1 = Authority("Polycom Equipment Issuing CA 1", ca_bits, policy)
    issuing2 = Authority("Polycom Equipment Issuing CA 2", ca_bits, policy)
    retired = Authority("Polycom Equipment Issuing CA 0", ca_bits, policy,
                        not_before=NOW - 4000 * DAY, not_after=NOW - 400 * DAY)
    # Same names, other keys: a forgery that only a signature check catches.
    fake_root = Authority("Polycom Root CA", 2048)
    fake_policy = Authority("Polycom Equipment Policy CA", 2048, fake_root)
    fake_issuing = Authority("Polycom Equipment Issuing CA 1", 2048, fake_policy)
    other_root = Authority("Other Vendor Root CA", 2048, org="Other Vendor")
    server_ca = Authority("Test Provisioning Server CA", 2048, org="mod_polyprov tests")

    leaf_key = _key(2048)
    valid = (NOW - 365 * DAY, NOW + 3650 * DAY)
    expired = (NOW - 3000 * DAY, NOW - 300 * DAY)
    future = (NOW + 300 * DAY, NOW + 3000 * DAY)
    dev = {n: _name(m) for n, m in DEVICES.items()}

    leaves = {
        "valid": issuing1.issue(dev["valid"], leaf_key, *valid),
        "valid_ca2": issuing2.issue(dev["valid_ca2"], leaf_key, *valid),
        "expired": issuing1.issue(dev["expired"], leaf_key, *expired),
        "expired_under_retired_ca": retired.issue(dev["expired_under_retired_ca"], leaf_key, *expired),
        "valid_under_retired_ca": retired.issue(dev["valid_under_retired_ca"], leaf_key, NOW - 3000 * DAY, NOW + 3000 * DAY),
        "not_yet_valid": issuing1.issue(dev["not_yet_valid"], leaf_key, *future),
        "revoked_expired": issuing1.issue(dev["revoked_expired"], leaf_key, *expired),
        "impostor": fake_issuing.issue(dev["impostor"], leaf_key, *valid),
        "impostor_expired": fake_issuing.issue(dev["impostor_expired"], leaf_key, *expired),
        "other_ca_expired": other_root.issue(dev["other_ca_expired"], leaf_key, *expired),
        "other_ca_valid": other_root.issue(dev["other_ca_valid"], leaf_key, *valid),
    }
    good = issuing1.issue(dev["bad_signature"], leaf_key, *valid)
    leaves["bad_signature"] = Issued(_bad_signature(good.cert), leaf_key, good.chain)
    good = issuing1.issue(dev["bad_signature_expired"], leaf_key, *expired)
    leaves["bad_signature_expired"] = Issued(_bad_signature(good.cert), leaf_key, good.chain)
    for name, cn in CN_VARIANTS.items():
        subject = _name(cn) if cn else x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Polycom Inc.")])
        leaves[name] = issuing1.issue(subject, leaf_key, *valid)
    for name, cns in SUBJECT_VARIANTS.items():
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Polycom Inc.")] +
                            [x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in cns])
        leaves[name] = issuing1.issue(subject, leaf_key, *valid)
    for name, dates in (("self_signed", valid), ("self_signed_expired", expired)):
        key = _key(2048)
        leaves[name] = Issued(_self_signed(DEVICES[name], key, *dates), key, [])

    def write(rel, data):
        path = os.path.join(out_dir, rel)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # The CAs themselves, in memory, for tests that sign CRLs (harness/crls.py).
    paths = {"dir": out_dir, "devices": {}, "authorities": {
        "root": root, "policy": policy, "issuing1": issuing1, "issuing2": issuing2, "fake_policy": fake_policy,
        "fake_issuing1": fake_issuing, "other_root": other_root}}
    paths["anchors"] = write("polycom-root.pem", _pem(root.cert))
    polycom_cas = [root.cert, policy.cert, issuing1.cert, issuing2.cert]
    paths["ca_bundle"] = write("polycom-ca.pem", b"".join(_pem(c) for c in polycom_cas))
    paths["ca_bundle_with_other"] = write("trusted-ca.pem", b"".join(_pem(c) for c in polycom_cas + [other_root.cert]))
    paths["other_root"] = write("other-root.pem", _pem(other_root.cert))
    paths["issuing1"] = write("issuing-ca-1.pem", _pem(issuing1.cert))
    crl = issuing1.crl([leaves["revoked_expired"].cert.serial_number])
    paths["crl"] = write("issuing-ca-1.crl.pem", crl.public_bytes(serialization.Encoding.PEM))
    paths["leaf_key_only"] = write("device.key", _key_pem(leaf_key))
    # Single DER certificates, as Poly publishes its CAs (polyprov fetch-ca).
    os.makedirs(os.path.join(out_dir, "der"), exist_ok=True)
    # An issuing CA 2 that has expired: fetch-ca must take it (and say so).
    issuing2_expired = Authority("Polycom Equipment Issuing CA 2", 2048, policy,
                                 not_before=NOW - 4000 * DAY, not_after=NOW - 400 * DAY)
    paths["der"] = {name: write(f"der/{name}.crt", c.public_bytes(serialization.Encoding.DER)) for name, c in (
        ("root", root.cert), ("policy", policy.cert), ("issuing1", issuing1.cert), ("issuing2", issuing2.cert),
        ("issuing2_expired", issuing2_expired.cert), ("fake_root", fake_root.cert),
        ("fake_issuing", fake_issuing.cert), ("other_root", other_root.cert), ("device", leaves["valid"].cert))}
    for name, issued in leaves.items():
        cert_path = write(f"device-{name}.pem", b"".join(_pem(c) for c in [issued.cert] + issued.chain))
        key_path = write(f"device-{name}.key", _key_pem(issued.key))
        paths["devices"][name] = {"cert": cert_path, "key": key_path, "mac": DEVICES.get(name),
                                  "sha256": issued.cert.fingerprint(hashes.SHA256()).hex().upper(),
                                  "leaf_only": write(f"device-{name}.leaf.pem", _pem(issued.cert))}

    server_key = _key(2048)
    sans = [x509.DNSName(n) for n in server_names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = server_ca.issue(_name(server_names[0], "mod_polyprov tests"), server_key, *valid, sans=sans, server=True)
    paths["server_ca"] = write("server-ca.pem", _pem(server_ca.cert))
    paths["server_cert"] = write("server.pem", _pem(server.cert))
    paths["server_key"] = write("server.key", _key_pem(server_key))
    os.chmod(paths["server_key"], 0o600)
    # The same names with an ECDSA key (the example vhost serves both).
    ecdsa_key = ec.generate_private_key(ec.SECP256R1())
    server_ecdsa = server_ca.issue(_name(server_names[0], "mod_polyprov tests"), ecdsa_key, *valid, sans=sans, server=True)
    paths["server_ecdsa_cert"] = write("server-ecdsa.pem", _pem(server_ecdsa.cert))
    paths["server_ecdsa_key"] = write("server-ecdsa.key", _key_pem(ecdsa_key))
    return paths
