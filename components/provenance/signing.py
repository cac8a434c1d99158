"""Embedding a signed C2PA manifest in a PNG.

The SDK hashes the image's bytes (all but the manifest's own `caBX` chunk) into the claim and
signs it with the configured key; the certificate chain travels in the signature. There is no
time stamp unless a time-stamp authority is configured, since asking one needs the network:
without one, the signature verifies while the signing certificate is valid.
"""

from __future__ import annotations

from pathlib import Path

from components.io.atomic import write_file_atomically

from .claim import GenerationClaim, manifest_definition
from .embed import embed_manifest
from .settings import SigningSettings, signing_credentials

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sign_png(png: bytes, claim: GenerationClaim, settings: SigningSettings, *, title: str = "generated.png") -> bytes:
    """`png` with a manifest of `claim` signed per `settings`; unchanged when settings.sign is False
    (the caller chose unsigned images and says so). A bad key or certificate is a ValueError
    naming the file (as check_signing's), as is the SDK refusing the certificate."""
    credentials = signing_credentials(settings)
    if credentials is None:
        return png
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("sign_png: the bytes are not a PNG")
    definition = manifest_definition(claim, title=title)
    return embed_manifest(png, definition, credentials, settings.tsa_url)


def sign_file(path: Path, claim: GenerationClaim, settings: SigningSettings) -> None:
    """Replaces the PNG at `path` by its signed copy, atomically (a reader sees the unsigned file
    or the whole signed one); leaves it as it is when settings.sign is False."""
    path = Path(path)
    if not settings.sign:
        return
    signed = sign_png(path.read_bytes(), claim, settings, title=path.name)
    write_file_atomically(path, lambda tmp: tmp.write_bytes(signed))
