"""`make_test_certificates`: a CA and a signing chain in the C2PA certificate profile the SDK
enforces, marked for testing, never overwriting an earlier set unless asked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.provenance import TestCertificates, make_test_certificates
from components.provenance.certificates import DOCUMENT_SIGNING


def chain(certs: TestCertificates) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(certs.certificate.read_bytes())


def test_the_signing_file_holds_the_leaf_then_the_ca(certs: TestCertificates) -> None:
    leaf, issuer = chain(certs)
    ca = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    assert issuer == ca
    leaf.verify_directly_issued_by(ca)  # raises when the CA did not sign the leaf
    assert leaf.issuer == ca.subject != leaf.subject


def test_the_ca_is_a_ca_and_the_leaf_is_not(certs: TestCertificates) -> None:
    leaf, ca = chain(certs)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_the_leaf_has_the_c2pa_profile(certs: TestCertificates) -> None:
    leaf, _ = chain(certs)
    assert leaf.version == x509.Version.v3
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    ekus = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ekus & {ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING}
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "recap test"
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)  # raises when absent


def test_everything_says_it_is_for_testing_only(certs: TestCertificates) -> None:
    for cert in chain(certs):
        assert "for testing only" in cert.subject.rfc4514_string()
    readme = (certs.ca.parent / "README.txt").read_text()
    assert "FOR TESTING ONLY" in readme and "RECAP_C2PA_CERT" in readme and "--trust" in readme


def test_the_key_is_pkcs8_private_to_its_owner_and_matches_the_leaf(certs: TestCertificates) -> None:
    data = certs.private_key.read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, not SEC1's "EC PRIVATE KEY"
    key = serialization.load_pem_private_key(data, password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*spki) == chain(certs)[0].public_key().public_bytes(*spki)
    assert stat.S_IMODE(certs.private_key.stat().st_mode) & 0o077 == 0


def test_overwriting_is_refused_unless_asked(tmp_path: Path) -> None:
    first = make_test_certificates(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FileExistsError, match="overwrite"):
        make_test_certificates(tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before
    second = make_test_certificates(tmp_path, overwrite=True)
    assert second == first
    assert second.ca.read_bytes() != before[first.ca]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.txt", "ca.pem", "signing.key", "signing.pem"]


def test_one_existing_file_is_enough_to_refuse(tmp_path: Path) -> None:
    (tmp_path / "signing.key").write_text("mine")
    with pytest.raises(FileExistsError, match="signing.key"):
        make_test_certificates(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing.key"]
