"""The SDK's signing step: a manifest definition, signed with checked credentials, embedded in a PNG.

`trial_sign` signs a one-pixel image and throws it away: whatever the SDK refuses about a chain
or key that credentials.py does not check (an extended key usage outside its list, say) is then
found before any image is generated, as an error naming the certificate file.

No thumbnail is embedded: it would roughly double a small generated image, which is its own
preview. Nothing here reaches the network unless a time-stamp authority is configured.
"""

from __future__ import annotations

import io
from typing import Any

import c2pa
from PIL import Image

from .claim import TRAINED_ALGORITHMIC_MEDIA
from .credentials import Credentials

# The SDK's refusal of a certificate or key; its typed errors are attached at import, unseen by pyright.
SIGNATURE_ERROR: type[Exception] = c2pa.C2paError.Signature  # pyright: ignore[reportAttributeAccessIssue]
BUILDER_SETTINGS = {
    "builder": {"thumbnail": {"enabled": False}},
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
}
TRIAL_MANIFEST = {
    "claim_generator_info": [{"name": "recap trial signature", "version": "0"}],
    "assertions": [
        {
            "label": "c2pa.actions.v2",
            "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]},
        }
    ],
}


def embed_manifest(
    png: bytes, definition: dict[str, Any], credentials: Credentials, tsa_url: str | None = None
) -> bytes:
    """`png` with `definition` signed and embedded; the SDK refusing the credentials is a
    ValueError naming their certificate file."""
    info = c2pa.C2paSignerInfo(credentials.algorithm, credentials.chain_pem, credentials.key_pem, tsa_url)
    signed = io.BytesIO()
    try:
        with c2pa.Context.from_dict(BUILDER_SETTINGS) as context, c2pa.Signer.from_info(info) as signer:
            with c2pa.Builder(definition, context) as builder:
                builder.sign(signer, "image/png", io.BytesIO(png), signed)
    except SIGNATURE_ERROR as error:
        raise ValueError(
            f"C2PA certificate {credentials.certificate}: the SDK refused to sign with it ({error})"
        ) from error
    return signed.getvalue()


def trial_sign(credentials: Credentials) -> None:
    """Raises as embed_manifest if the SDK will not sign with `credentials`; no time stamp."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    embed_manifest(buffer.getvalue(), TRIAL_MANIFEST, credentials)
