"""Tampering with a signed PNG the way an attacker would: its chunks read and rebuilt, the
manifest's caBX kept, the pixels changed, every CRC made right; or the manifest dropped by a re-save."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from tests.provenance.helpers import pixels

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk, in file order."""
    assert png.startswith(SIGNATURE)
    found, pos = [], len(SIGNATURE)
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        found.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return found


def build(parts: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG of these chunks, each with its length and a correct CRC."""
    body = b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)) for kind, data in parts
    )
    return SIGNATURE + body


def reencoded_pixels(signed: bytes) -> bytes:
    """The pixels edited and encoded anew, the signed file's manifest chunk put back after IHDR."""
    edited = pixels(signed).copy()
    edited[10:20, 10:20] = 255 - edited[10:20, 10:20]
    buffer = io.BytesIO()
    Image.fromarray(edited).save(buffer, format="PNG")
    (manifest,) = [c for c in chunks(signed) if c[0] == b"caBX"]
    ihdr, *rest = chunks(buffer.getvalue())
    return build([ihdr, manifest, *rest])


def edited_pixel_data(signed: bytes) -> bytes:
    """One byte of the image data changed in place (decompressed, edited, recompressed), every
    other chunk as it was and every CRC right: the smallest edit a PNG reader still decodes."""
    parts = chunks(signed)
    (index,) = [i for i, (kind, _) in enumerate(parts) if kind == b"IDAT"]
    data = bytearray(zlib.decompress(parts[index][1]))
    row = 1 + 64 * 3  # the fixture's 64x64 RGB: each row a filter byte, then its samples
    data[32 * row + 1 + 10] ^= 0xFF  # row 32's eleventh sample
    parts[index] = (b"IDAT", zlib.compress(bytes(data)))
    return build(parts)


def stripped(signed: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(signed)).save(buffer, format="PNG")
    return buffer.getvalue()
