"""C2PA provenance of generated images (DALL-E 3's safety section): every image the generator
writes carries a signed manifest saying a trained model made it, with which model and prompt.

claim.py says what the manifest holds; settings.py who signs (params.yaml's `provenance:`, the
environment, --no-sign), credentials.py checks their PEM files and embed.py has the SDK sign,
a trial signature first, so a bad key or certificate stops a command before anything is
generated; signing.py signs a PNG; verify.py reports what the SDK makes of a file; certificates.py
makes a local test CA and signing certificate the SDK accepts.
"""

from .certificates import TestCertificates, make_test_certificates
from .claim import (
    GENERATION_LABEL,
    TRAINED_ALGORITHMIC_MEDIA,
    GenerationClaim,
    claim_of_prompts,
    manifest_definition,
    sha256_text,
)
from .credentials import Credentials, read_credentials
from .settings import SigningSettings, check_signing, signing_credentials, signing_settings
from .signing import sign_file, sign_png
from .verify import Verification, verify_bytes, verify_file

__all__ = [
    "GENERATION_LABEL",
    "TRAINED_ALGORITHMIC_MEDIA",
    "Credentials",
    "GenerationClaim",
    "SigningSettings",
    "TestCertificates",
    "Verification",
    "check_signing",
    "claim_of_prompts",
    "make_test_certificates",
    "manifest_definition",
    "read_credentials",
    "sha256_text",
    "sign_file",
    "sign_png",
    "signing_credentials",
    "signing_settings",
    "verify_bytes",
    "verify_file",
]
