"""Reading and checking a signer's PEM files before anything is generated.

The SDK's own refusals name no file and rarely the reason ("the certificate is invalid"). So
the C2PA certificate profile it enforces is checked here, each failure a ValueError naming the
file and what is wrong: a chain of PEM certificates, each issued by the next; a leaf that is not
self-signed, not a CA, valid now, with the digitalSignature key usage, an extended key usage and
an authority key identifier; an unencrypted private key of a kind the SDK signs with, matching
the leaf. What else the SDK refuses, embed.trial_sign finds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

E = TypeVar("E", bound=x509.ExtensionType)

TEST_CERT_HINT = "`recap provenance test-cert DIR` makes a test chain the SDK accepts"
CURVES = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}  # the SDK's algorithm names


@dataclass(frozen=True)
class Credentials:
    certificate: Path  # the file the chain came from, named in errors
    chain_pem: bytes  # the leaf, then its issuers, as the SDK embeds them
    key_pem: bytes  # PKCS#8 PEM, unencrypted, whatever form the file held
    algorithm: str  # the SDK's name for the key's signature algorithm: es256, es384, es512, ps256, ed25519


def read_certificates(path: Path, what: str = "certificate") -> list[x509.Certificate]:
    """The PEM certificates in `path`, in file order; ValueError naming `path` (as `what`) when it
    is missing, unreadable or holds none."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"C2PA {what} {path}: cannot be read ({error.strerror or error})") from error
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise ValueError(f"C2PA {what} {path}: not a PEM certificate chain ({error})") from error
    return certificates


def read_credentials(certificate: Path, private_key: Path, *, now: dt.datetime | None = None) -> Credentials:
    """The checked chain and key (module docstring); `now` (UTC) for the validity check."""
    chain = read_certificates(certificate)
    _check_chain(chain, certificate, now or dt.datetime.now(dt.UTC))
    key = _read_private_key(private_key)
    algorithm = _algorithm(key, private_key)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != chain[0].public_key().public_bytes(*spki):
        raise ValueError(
            f"C2PA private key {private_key}: does not match the signing certificate (the first one) in {certificate}"
        )
    pem = serialization.Encoding.PEM
    return Credentials(
        certificate=Path(certificate),
        chain_pem=b"".join(c.public_bytes(pem) for c in chain),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        algorithm=algorithm,
    )


def _check_chain(chain: list[x509.Certificate], path: Path, now: dt.datetime) -> None:
    leaf = chain[0]
    where = f"C2PA certificate {path}: the signing certificate (the first one)"
    for index, (cert, issuer) in enumerate(zip(chain, chain[1:], strict=False)):
        if not _issued_by(cert, issuer):
            raise ValueError(
                f"C2PA certificate {path}: certificate {index + 1} is not issued by certificate {index + 2}; "
                "the file must hold the signing certificate first, then each issuer in turn"
            )
    if _issued_by(leaf, leaf):
        raise ValueError(
            f"{where} is self-signed; the C2PA SDK needs one issued by a CA, followed by the CA's certificate "
            f"({TEST_CERT_HINT})"
        )
    constraints = _extension(leaf, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise ValueError(f"{where} is a CA certificate; sign with one the CA issued")
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise ValueError(
            f"{where} is valid from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} "
            f"to {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, not now"
        )
    usage = _extension(leaf, x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise ValueError(f"{where} lacks the digitalSignature key usage ({TEST_CERT_HINT})")
    if _extension(leaf, x509.ExtendedKeyUsage) is None:
        raise ValueError(
            f"{where} has no extended key usage; the SDK wants e.g. email protection or document signing "
            f"({TEST_CERT_HINT})"
        )
    if _extension(leaf, x509.AuthorityKeyIdentifier) is None:
        raise ValueError(f"{where} has no authority key identifier, which the SDK requires ({TEST_CERT_HINT})")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _extension(cert: x509.Certificate, kind: type[E]) -> E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _read_private_key(path: Path):
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"C2PA private key {path}: cannot be read ({error.strerror or error})") from error
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError as error:  # encrypted: the SDK takes no passphrase
        raise ValueError(f"C2PA private key {path}: is encrypted; the SDK needs an unencrypted PEM key") from error
    except (ValueError, UnsupportedAlgorithm) as error:
        raise ValueError(f"C2PA private key {path}: not a PEM private key ({error})") from error


def _algorithm(key: object, path: Path) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in CURVES:
        return CURVES[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ValueError(
        f"C2PA private key {path}: a {type(key).__name__} key; "
        "the SDK signs with EC P-256/384/521, RSA (PSS) or Ed25519 keys"
    )
