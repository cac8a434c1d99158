"""What the provenance tests share: the test certificates of `recap provenance test-cert` and
a second, unrelated set (a signer outside the trust list), a 64x64 generated-looking PNG, the
claim of its generation and that PNG signed with the test certificates."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from components.provenance import GenerationClaim, TestCertificates, make_test_certificates, sha256_text, sign_png
from tests.provenance.helpers import DRAWN_PROMPT, USER_PROMPT, signing


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    return make_test_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    """Another test CA and signer: outside `certs`' trust list."""
    return make_test_certificates(tmp_path_factory.mktemp("other_certs"))


@pytest.fixture(scope="session")
def png() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def claim() -> GenerationClaim:
    return GenerationClaim(
        model_version="7",
        pipeline_hash="0f" * 16,
        prompt_sha256=sha256_text(DRAWN_PROMPT),
        user_prompt_sha256=sha256_text(USER_PROMPT),
        upsampled=True,
        filters={"prompt": True, "image": True, "policy_version": "ab12"},
        seed=3,
    )


@pytest.fixture(scope="session")
def signed(png: bytes, claim: GenerationClaim, certs: TestCertificates) -> bytes:
    return sign_png(png, claim, signing(certs))
