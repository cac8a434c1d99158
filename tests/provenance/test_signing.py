"""A generated PNG signed with the test certificates: trusted with the test CA, valid without a
trust list, its manifest saying what made it; the pixels untouched; unsigned only by choice."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from components.provenance import (
    GENERATION_LABEL,
    TRAINED_ALGORITHMIC_MEDIA,
    GenerationClaim,
    SigningSettings,
    TestCertificates,
    manifest_definition,
    sha256_text,
    sign_file,
    sign_png,
    verify_bytes,
    verify_file,
)
from tests.provenance.helpers import DRAWN_PROMPT, USER_PROMPT, pixels, signing


def assertion(manifest: dict, label: str) -> dict:
    (found,) = [a["data"] for a in manifest["assertions"] if a["label"] == label]
    return found


def test_signed_with_the_test_certificate_it_is_trusted_with_the_test_ca(
    signed: bytes, certs: TestCertificates
) -> None:
    result = verify_bytes(signed, trust_anchors=certs.ca)
    assert (result.state, result.errors) == ("trusted", [])
    assert result.ok


def test_without_a_trust_list_it_is_valid_not_trusted(signed: bytes) -> None:
    result = verify_bytes(signed)
    assert (result.state, result.errors) == ("valid", [])


def test_the_manifest_says_a_trained_model_made_it_with_recap(signed: bytes, certs: TestCertificates) -> None:
    manifest = verify_bytes(signed, trust_anchors=certs.ca).manifest
    assert manifest is not None
    assert manifest["claim_generator_info"][0]["name"] == "recap"
    assert manifest["claim_generator_info"][0]["version"] == version("recap")
    (action,) = assertion(manifest, "c2pa.actions.v2")["actions"]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert action["softwareAgent"]["name"] == "recap"
    assert manifest["signature_info"]["issuer"] == "recap test"


def test_the_manifest_carries_the_claim(signed: bytes, claim: GenerationClaim) -> None:
    manifest = verify_bytes(signed).manifest
    assert manifest is not None
    assert assertion(manifest, GENERATION_LABEL) == {
        "model_version": "7",
        "pipeline_hash": "0f" * 16,
        "prompt_sha256": sha256_text(DRAWN_PROMPT),
        "user_prompt_sha256": sha256_text(USER_PROMPT),
        "upsampled": True,
        "filters": {"prompt": True, "image": True, "policy_version": "ab12"},
        "seed": 3,
    }


def test_signing_leaves_the_pixels_as_they_were(png: bytes, signed: bytes) -> None:
    assert signed != png
    np.testing.assert_array_equal(pixels(signed), pixels(png))


def test_unsigned_by_choice_returns_the_bytes_unchanged(png: bytes, claim: GenerationClaim) -> None:
    unsigned = sign_png(png, claim, SigningSettings(certificate=None, private_key=None, sign=False))
    assert unsigned == png
    assert verify_bytes(unsigned).state == "no manifest"


def test_signing_without_a_key_is_an_error_not_an_unsigned_image(png: bytes, claim: GenerationClaim) -> None:
    with pytest.raises(ValueError, match="--no-sign"):
        sign_png(png, claim, SigningSettings(certificate=None, private_key=None))


def test_only_pngs_are_signed(claim: GenerationClaim, certs: TestCertificates) -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        sign_png(b"GIF89a", claim, signing(certs))


def test_sign_file_replaces_the_file_in_one_rename(
    tmp_path: Path, png: bytes, claim: GenerationClaim, certs: TestCertificates
) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(png)
    sign_file(path, claim, signing(certs))
    assert [p.name for p in tmp_path.iterdir()] == ["image.png"]  # no temporary left behind
    result = verify_file(path, trust_anchors=certs.ca)
    assert result.state == "trusted"
    assert result.manifest is not None and result.manifest["title"] == "image.png"
    unsigned = tmp_path / "unsigned.png"
    unsigned.write_bytes(png)
    sign_file(unsigned, claim, SigningSettings(certificate=None, private_key=None, sign=False))
    assert unsigned.read_bytes() == png


def test_the_manifest_definition_and_its_checks(claim: GenerationClaim) -> None:
    definition = manifest_definition(claim, title="a.png")
    assert definition["format"] == "image/png" and definition["title"] == "a.png"
    assert [a["label"] for a in definition["assertions"]] == ["c2pa.actions.v2", GENERATION_LABEL]
    assert sha256_text("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    with pytest.raises(ValueError, match="prompt_sha256"):
        GenerationClaim("7", "h", "not a hash", sha256_text(""), False, {})
    with pytest.raises(ValueError, match="filters"):
        GenerationClaim("7", "h", sha256_text(""), sha256_text(""), False, {"f": object()})
