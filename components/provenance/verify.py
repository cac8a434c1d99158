"""What the C2PA SDK makes of an image's manifest, in one of six states.

    trusted      the SDK says Trusted: hashes and signature valid, the signer chains to the trust list
    valid        the SDK says Valid and no trust list was given: hashes and signature valid, the
                 signer's trust not checked (trust verification is off without a list)
    untrusted    the SDK says Valid but signingCredential.untrusted: the signer is outside the trust list
    invalid      the SDK says Invalid: e.g. assertion.dataHash.mismatch after the pixels were edited
    no manifest  the SDK finds no C2PA data (never signed, or stripped by a re-save)
    unreadable   the SDK cannot parse the file (truncated, not an image)

`errors` holds the SDK's failure codes with its explanations ("code: explanation"), or its
error message for an unreadable file. Reading never touches the network: no remote manifests,
no OCSP. Only the trust list given is trusted (it replaces the SDK's own anchors).
"""

from __future__ import annotations

import io
import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from .credentials import read_certificates

# Typed SDK errors are attached to C2paError at import, unseen by pyright.
MANIFEST_NOT_FOUND: type[Exception] = c2pa.C2paError.ManifestNotFound  # pyright: ignore[reportAttributeAccessIssue]
STATES = {"Trusted": "trusted", "Valid": "valid", "Invalid": "invalid"}  # the SDK's validation_state
UNTRUSTED = "signingCredential.untrusted"
OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}


@dataclass
class Verification:
    state: str  # trusted | valid | untrusted | invalid | no manifest | unreadable (module docstring)
    manifest: dict[str, Any] | None  # the active manifest as the SDK reads it
    errors: list[str] = field(default_factory=list)  # the SDK's failure codes and explanations

    @property
    def ok(self) -> bool:
        """Whether the state is trusted or valid."""
        return self.state in ("trusted", "valid")


def verify_file(path: Path, *, trust_anchors: Path | None = None) -> Verification:
    """verify_bytes of the file at `path`, its format guessed from the name (else from the bytes).
    A missing file is an OSError; a bad trust list a ValueError naming it."""
    path = Path(path)
    data = path.read_bytes()
    return verify_bytes(data, mimetypes.guess_type(path.name)[0], trust_anchors=trust_anchors)


def verify_bytes(data: bytes, fmt: str | None = "image/png", *, trust_anchors: Path | None = None) -> Verification:
    """The SDK's verdict on `data` (module docstring); with `trust_anchors`, a PEM file of CA
    certificates, the signer must chain to one of them."""
    context = c2pa.Context.from_dict(_reader_settings(trust_anchors))
    try:
        with context, c2pa.Reader(fmt, io.BytesIO(data), None, context) as reader:
            store = json.loads(reader.json())
            manifest = reader.get_active_manifest()
    except MANIFEST_NOT_FOUND:
        return Verification("no manifest", None, [])
    except c2pa.C2paError as error:
        return Verification("unreadable", None, [str(error)])
    failures = _failures(store)
    errors = [f"{f.get('code')}: {f.get('explanation', '')}" for f in failures]
    state = STATES.get(store.get("validation_state"))
    if state is None:
        errors.append(f"the SDK's validation state {store.get('validation_state')!r} is none of {list(STATES)}")
        state = "invalid"
    elif state == "valid" and any(f.get("code") == UNTRUSTED for f in failures):
        state = "untrusted"
    return Verification(state, manifest, errors)


def _reader_settings(trust_anchors: Path | None) -> dict[str, Any]:
    if trust_anchors is None:
        return {"verify": {**OFFLINE, "verify_trust": False}}
    read_certificates(trust_anchors, "trust list")  # a named error for a bad file, not the SDK's
    anchors = Path(trust_anchors).read_text()
    return {"verify": {**OFFLINE, "verify_trust": True}, "trust": {"trust_anchors": anchors}}


def _failures(store: dict[str, Any]) -> list[dict[str, Any]]:
    results = store.get("validation_results")
    if results is None:
        return list(store.get("validation_status") or [])
    found = list((results.get("activeManifest") or {}).get("failure") or [])
    for delta in results.get("ingredientDeltas") or []:
        found += (delta.get("validationDeltas") or {}).get("failure") or []
    return found
