"""Small things the provenance tests share: the prompts, settings that sign with a certificate
set, a PNG's pixels, and signing certificates the SDK would refuse."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from components.provenance import SigningSettings, TestCertificates

USER_PROMPT = "a red circle"
DRAWN_PROMPT = "A big red circle to the left of a small blue square on a white background."


def signing(certs: TestCertificates) -> SigningSettings:
    return SigningSettings(certificate=certs.certificate, private_key=certs.private_key)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def signing_files(
    directory: Path, *, self_signed: bool = False, eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.EMAIL_PROTECTION
) -> tuple[Path, Path]:
    """A signing certificate file (the leaf, then its CA unless `self_signed`) and its key file,
    the leaf in the C2PA profile but for what the arguments change."""
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    ca_key = key if self_signed else ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "recap test"), x509.NameAttribute(NameOID.COMMON_NAME, "CA")]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_name = (
        ca_name
        if self_signed
        else x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "recap test"),
                x509.NameAttribute(NameOID.COMMON_NAME, "leaf"),
            ]
        )
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(leaf_name)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = [leaf] if self_signed else [leaf, ca]
    cert_path, key_path = directory / "made.pem", directory / "made.key"
    cert_path.write_bytes(b"".join(c.public_bytes(pem) for c in chain))
    pkcs8 = serialization.PrivateFormat.PKCS8
    key_path.write_bytes(key.private_bytes(pem, pkcs8, serialization.NoEncryption()))
    return cert_path, key_path
