"""Signing settings: params.yaml's `provenance:` under the environment, unsigned only by choice,
and every bad key or certificate an error naming its file before anything is signed."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from components.provenance import SigningSettings, TestCertificates, check_signing, signing_settings
from tests.provenance.helpers import signing, signing_files


def test_signing_is_on_by_default_and_needs_a_key() -> None:
    settings = signing_settings(None, root=Path("/project"), environ={})
    assert settings == SigningSettings(certificate=None, private_key=None, tsa_url=None, sign=True)
    with pytest.raises(ValueError, match="--no-sign") as caught:
        check_signing(settings)
    message = str(caught.value)
    assert "recap provenance test-cert DIR" in message and "RECAP_C2PA_CERT" in message and "RECAP_C2PA_KEY" in message


def test_a_missing_key_alone_is_named(certs: TestCertificates) -> None:
    settings = SigningSettings(certificate=certs.certificate, private_key=None)
    with pytest.raises(ValueError, match="private key") as caught:
        check_signing(settings)
    assert "certificate chain" not in str(caught.value)


@pytest.mark.parametrize("how", ["config", "flag"])
def test_unsigned_only_by_choice(how: str) -> None:
    config = {"sign": False} if how == "config" else {}
    settings = signing_settings(config, root=Path("/p"), no_sign=how == "flag", environ={})
    assert settings.sign is False
    check_signing(settings)  # nothing to check: no key needed


def test_config_paths_are_relative_to_the_project_and_the_environment_overrides(tmp_path: Path) -> None:
    config = {"certificate": "certs/signing.pem", "private_key": "/abs/signing.key", "tsa_url": "http://tsa.example"}
    settings = signing_settings(config, root=tmp_path, environ={})
    assert settings.certificate == tmp_path / "certs/signing.pem"
    assert settings.private_key == Path("/abs/signing.key")
    assert settings.tsa_url == "http://tsa.example"
    environ = {
        "RECAP_C2PA_CERT": "/env/c.pem",
        "RECAP_C2PA_KEY": "/env/k.key",
        "RECAP_C2PA_TSA_URL": "https://t.example",
    }
    overridden = signing_settings(config, root=tmp_path, environ=environ)
    assert overridden == SigningSettings(Path("/env/c.pem"), Path("/env/k.key"), "https://t.example", sign=True)
    assert signing_settings({"sign": False}, root=tmp_path, environ=environ).sign is False


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"certificat": "x.pem"}, "certificat"),
        ({"sign": "yes"}, "sign"),
        ({"certificate": 3}, "certificate"),
        ({"tsa_url": "tsa.example"}, "tsa_url"),
    ],
)
def test_bad_config_is_named(config: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        signing_settings(config, root=Path("/p"), environ={})


def test_a_missing_certificate_file_is_named(tmp_path: Path, certs: TestCertificates) -> None:
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ValueError, match=str(missing)):
        check_signing(SigningSettings(certificate=missing, private_key=certs.private_key))


def test_a_garbage_certificate_is_named(tmp_path: Path, certs: TestCertificates) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match=f"{garbage}.*not a PEM certificate"):
        check_signing(SigningSettings(certificate=garbage, private_key=certs.private_key))


def test_a_garbage_key_is_named(tmp_path: Path, certs: TestCertificates) -> None:
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    with pytest.raises(ValueError, match=f"{garbage}.*not a PEM private key"):
        check_signing(SigningSettings(certificate=certs.certificate, private_key=garbage))


def test_a_key_of_another_certificate_is_named(certs: TestCertificates, other_certs: TestCertificates) -> None:
    with pytest.raises(ValueError, match="does not match") as caught:
        check_signing(SigningSettings(certificate=certs.certificate, private_key=other_certs.private_key))
    assert str(other_certs.private_key) in str(caught.value) and str(certs.certificate) in str(caught.value)


def test_a_self_signed_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = signing_files(tmp_path, self_signed=True)
    with pytest.raises(ValueError, match=f"{cert}.*self-signed"):
        check_signing(SigningSettings(certificate=cert, private_key=key))


def test_what_only_the_sdk_refuses_is_found_before_generation(tmp_path: Path) -> None:
    """A TLS server's extended key usage passes the file checks; the trial signature finds it."""
    cert, key = signing_files(tmp_path, eku=ExtendedKeyUsageOID.SERVER_AUTH)
    with pytest.raises(ValueError, match=f"{cert}: the SDK refused to sign with it"):
        check_signing(SigningSettings(certificate=cert, private_key=key))
    good_cert, good_key = signing_files(tmp_path)  # the same but for the usage: accepted
    check_signing(SigningSettings(certificate=good_cert, private_key=good_key))


def test_a_chain_out_of_order_is_refused(tmp_path: Path, certs: TestCertificates) -> None:
    blocks = certs.certificate.read_text().split("-----END CERTIFICATE-----\n")[:2]
    reversed_chain = tmp_path / "reversed.pem"
    reversed_chain.write_text("".join(b + "-----END CERTIFICATE-----\n" for b in reversed(blocks)))
    with pytest.raises(ValueError, match=f"{reversed_chain}.*not issued by"):
        check_signing(SigningSettings(certificate=reversed_chain, private_key=certs.private_key))


def test_the_test_certificates_pass(certs: TestCertificates) -> None:
    check_signing(signing(certs))
