"""`recap provenance`: test certificates for signing generated images, and verifying any image.

    recap provenance test-cert DIR [--overwrite]
                                  a local test CA (ca.pem) and signing chain and key
                                  (signing.pem, signing.key) the C2PA SDK accepts; for testing only
    recap provenance verify FILE [--trust CA.pem] [--json]
                                  the manifest's state (trusted, valid, untrusted, invalid,
                                  no manifest, unreadable), the SDK's errors and the manifest's
                                  facts; exit 0 when trusted or valid, 1 otherwise, 2 on bad input

The components are imported inside the handlers: the SDK's native library loads only for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.provenance import Verification

MEANINGS = {
    "trusted": "hashes and signature valid; the signer chains to the trust list",
    "valid": "hashes and signature valid; the signer's trust not checked (no --trust list)",
    "untrusted": "hashes and signature valid, but the signer is outside the trust list",
    "invalid": "the manifest does not match the file, or its signature is bad",
    "no manifest": "no C2PA manifest: never signed, or stripped",
    "unreadable": "the C2PA SDK cannot read the file",
}


def add_provenance_parser(commands: Any) -> argparse.ArgumentParser:
    """`recap provenance` and its subcommands, added to `recap`'s subparsers; each sets `handler`."""
    prov = commands.add_parser("provenance", help="C2PA provenance: test certificates, verifying images")
    actions = prov.add_subparsers(dest="provenance_command", required=True)
    cert = actions.add_parser("test-cert", help="make a local test CA and signing certificate (testing only)")
    cert.add_argument("dir", help="folder for ca.pem, signing.pem, signing.key and README.txt")
    cert.add_argument("--overwrite", action="store_true", help="replace the files of an earlier test-cert")
    cert.set_defaults(handler=test_cert_command)
    ver = actions.add_parser("verify", help="an image's C2PA manifest, its validation state and errors")
    ver.add_argument("file", help="the image")
    ver.add_argument("--trust", metavar="CA.pem", help="trust signers chaining to these CA certificates (PEM)")
    ver.add_argument("--json", action="store_true", help="one JSON object {file, state, errors, manifest}")
    ver.set_defaults(handler=verify_command)
    return prov


def test_cert_command(args: argparse.Namespace) -> int:
    """Writes the test certificates and says how to sign and verify with them."""
    from components.provenance import make_test_certificates

    try:
        made = make_test_certificates(Path(args.dir).expanduser(), overwrite=args.overwrite)
    except (FileExistsError, OSError) as error:
        print(f"recap: {error}", file=sys.stderr)
        return 2
    print(f"test CA (the verifiers' trust list): {made.ca}")
    print(f"signing certificate chain:          {made.certificate}")
    print(f"signing key:                        {made.private_key}")
    print("FOR TESTING ONLY: they prove only that an image was signed where this key lives.")
    print("Sign generated images with them:")
    print(f"  export RECAP_C2PA_CERT={made.certificate}")
    print(f"  export RECAP_C2PA_KEY={made.private_key}")
    print("Verify, trusting the test CA:")
    print(f"  recap provenance verify IMAGE.png --trust {made.ca}")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    """The file's Verification, readable or as JSON; 0 when trusted or valid, 1 otherwise."""
    from components.provenance import verify_file

    trust = Path(args.trust).expanduser() if args.trust else None
    try:
        result = verify_file(Path(args.file).expanduser(), trust_anchors=trust)
    except (ValueError, OSError) as error:
        print(f"recap: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"file": args.file, **asdict(result)}, indent=2, default=str))
    else:
        print("\n".join(verification_lines(args.file, result)))
    return 0 if result.ok else 1


def verification_lines(file: str, result: Verification) -> list[str]:
    """The state and what it means, the SDK's errors, then the manifest's facts."""
    lines = [f"{file}: {result.state}: {MEANINGS.get(result.state, '')}"]
    if result.errors:
        lines += ["errors:"] + [f"  {error}" for error in result.errors]
    if result.manifest is not None:
        lines += manifest_lines(result.manifest)
    return lines


def manifest_lines(manifest: dict[str, Any]) -> list[str]:
    """Who made the claim, its actions, the signer, and recap's generation assertion."""
    from components.provenance import GENERATION_LABEL

    lines = []
    for info in manifest.get("claim_generator_info") or []:
        lines.append(f"claim generator: {info.get('name')} {info.get('version', '')}".rstrip())
    assertions = manifest.get("assertions") or []
    for assertion in assertions:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                source = str(action.get("digitalSourceType", "")).rsplit("/", 1)[-1]
                lines.append(f"action: {action.get('action')}" + (f", digital source type {source}" if source else ""))
    signature = manifest.get("signature_info") or {}
    if signature:
        lines.append(f"signed by: {signature.get('common_name')} (issuer {signature.get('issuer')})")
    for assertion in assertions:
        if assertion.get("label") == GENERATION_LABEL:
            lines.append(f"{GENERATION_LABEL}:")
            lines += [f"  {key}: {value}" for key, value in (assertion.get("data") or {}).items()]
    return lines
