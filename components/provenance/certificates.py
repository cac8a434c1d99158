"""A local test CA and a signing certificate the C2PA SDK accepts, for `recap provenance test-cert`.

The SDK refuses a self-signed signing certificate: it wants the C2PA certificate profile, an
X.509 v3 leaf issued by a CA, with critical key usage digitalSignature, an extended key usage
it allows (email protection and document signing here), an organisation in the subject and an
authority key identifier naming its issuer. The leaf file holds the leaf then the CA, the chain
the SDK embeds in each manifest; verifiers trust the CA (`ca.pem`), never the leaf.

Every subject says "for testing only" and so does the README written beside the files: images
signed with these prove only that they were signed on the machine that made them.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.io.atomic import write_file_atomically

ORGANISATION = "recap test"
CA_NAME = "recap test CA (for testing only)"
SIGNER_NAME = "recap test signer (for testing only)"
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning (RFC 9336)
VALID_DAYS = 730  # without a time stamp, a signature verifies only while its certificate is valid

README = """Test certificates made by `recap provenance test-cert`: FOR TESTING ONLY.

ca.pem        a local test root CA; give it to verifiers as their trust list
signing.pem   the signing certificate followed by the CA: the chain each manifest carries
signing.key   the signing certificate's private key (PKCS#8 PEM, P-256, unencrypted)

An image signed with these proves only that it was signed where this key lives. Sign with them:
    export RECAP_C2PA_CERT={certificate}
    export RECAP_C2PA_KEY={private_key}
and verify, trusting this CA:
    recap provenance verify IMAGE.png --trust {ca}
"""


@dataclass(frozen=True)
class TestCertificates:
    __test__ = False  # not a pytest test class

    ca: Path  # the test root CA (PEM): the verifiers' trust list
    certificate: Path  # the signing certificate then the CA (PEM): what signing reads
    private_key: Path  # the signing key (PKCS#8 PEM)


def make_test_certificates(directory: Path, *, overwrite: bool = False) -> TestCertificates:
    """Writes ca.pem, signing.pem, signing.key and README.txt into `directory` (created if
    needed); refuses, before writing anything, if any of them exists, unless `overwrite`."""
    directory = Path(directory)
    paths = TestCertificates(directory / "ca.pem", directory / "signing.pem", directory / "signing.key")
    readme = directory / "README.txt"
    existing = [str(p) for p in (paths.ca, paths.certificate, paths.private_key, readme) if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing} exist; pass overwrite=True (--overwrite) to replace them")

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _ca_certificate(ca_key, now)
    signing_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _signing_certificate(signing_key, ca, ca_key, now)

    pem = serialization.Encoding.PEM
    key_pem = signing_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(paths.private_key, key_pem, mode=0o600)
    _write(paths.ca, ca.public_bytes(pem))
    _write(paths.certificate, leaf.public_bytes(pem) + ca.public_bytes(pem))
    text = README.format(ca=paths.ca, certificate=paths.certificate, private_key=paths.private_key)
    _write(readme, text.encode())
    return paths


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "for testing only"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(CA_NAME))
        .issuer_name(_name(CA_NAME))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a verifier's clock a little behind ours
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _signing_certificate(
    key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: dt.datetime
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(SIGNER_NAME))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    def fill(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    write_file_atomically(path, fill)
