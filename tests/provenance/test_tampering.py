"""Bad input and attacks on a signed image: each verifies as what it is, never valid or trusted.

What the SDK (c2pa-python 0.38, c2pa-rs 0.91) reports, pinned here: pixels edited after signing,
the manifest's chunk kept, is Invalid with assertion.dataHash.mismatch; a re-save that drops the
manifest has no JUMBF data (no manifest); a signer whose CA is not in the trust list is Valid with
signingCredential.untrusted (untrusted); a truncated file or one that is no PNG cannot be parsed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from components.provenance import GenerationClaim, TestCertificates, Verification, sign_png, verify_bytes, verify_file
from tests.provenance.helpers import pixels, signing
from tests.provenance.tampering import edited_pixel_data, reencoded_pixels, stripped


def never_valid(result: Verification) -> None:
    assert result.state not in ("valid", "trusted") and not result.ok


@pytest.mark.parametrize("tamper", [reencoded_pixels, edited_pixel_data])
def test_edited_pixels_are_invalid_with_a_hash_mismatch(tamper, signed: bytes, certs: TestCertificates) -> None:
    tampered = tamper(signed)
    assert not np.array_equal(pixels(tampered), pixels(signed))
    for trust in (certs.ca, None):
        result = verify_bytes(tampered, trust_anchors=trust)
        assert result.state == "invalid"
        assert any(e.startswith("assertion.dataHash.mismatch") for e in result.errors), result.errors
        assert result.manifest is not None  # the manifest is still there, it no longer matches


def test_a_stripped_manifest_is_no_manifest(signed: bytes, certs: TestCertificates) -> None:
    plain = stripped(signed)
    np.testing.assert_array_equal(pixels(plain), pixels(signed))  # the same image, unsigned
    for trust in (certs.ca, None):
        assert verify_bytes(plain, trust_anchors=trust) == Verification("no manifest", None, [])


def test_a_signer_outside_the_trust_list_is_untrusted(
    png: bytes, claim: GenerationClaim, certs: TestCertificates, other_certs: TestCertificates
) -> None:
    foreign = sign_png(png, claim, signing(other_certs))
    result = verify_bytes(foreign, trust_anchors=certs.ca)
    assert result.state == "untrusted"
    assert any(e.startswith("signingCredential.untrusted") for e in result.errors), result.errors
    assert verify_bytes(foreign, trust_anchors=other_certs.ca).state == "trusted"  # its own CA trusts it


@pytest.mark.parametrize("keep", [0.5, -20, -1])
def test_a_truncated_file_is_not_valid(signed: bytes, certs: TestCertificates, keep: float) -> None:
    end = int(len(signed) * keep) if isinstance(keep, float) else len(signed) + keep
    for trust in (certs.ca, None):
        result = verify_bytes(signed[:end], trust_anchors=trust)
        assert result.state in ("unreadable", "invalid")
        assert result.errors
        never_valid(result)


def test_a_file_that_is_no_image_is_unreadable(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("hello, not a PNG")
    result = verify_file(text)
    assert result.state == "unreadable" and result.manifest is None
    assert "could not be parsed" in result.errors[0]


def test_bad_input_to_the_verifier_is_named(tmp_path: Path, signed: bytes) -> None:
    with pytest.raises(OSError):
        verify_file(tmp_path / "missing.png")
    bad_trust = tmp_path / "trust.pem"
    bad_trust.write_text("not a certificate")
    with pytest.raises(ValueError, match=str(bad_trust)):
        verify_bytes(signed, trust_anchors=bad_trust)
