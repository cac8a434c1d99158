"""Who signs generated images, from params.yaml's `provenance:` and the environment.

    provenance:
      sign: true                      # false: write unsigned images, by choice
      certificate: certs/signing.pem  # the signing certificate then its CA (PEM); relative to the project
      private_key: certs/signing.key  # its private key (PEM, unencrypted)
      tsa_url: null                   # a time-stamp authority; none by default, it needs the network

RECAP_C2PA_CERT, RECAP_C2PA_KEY and RECAP_C2PA_TSA_URL override the three (their paths relative
to the working directory, as a shell user means them). Signing is on unless the config says
`sign: false` or the command passes --no-sign: an image leaves unsigned only by choice, so
signing that is on with no key configured is an error (`check_signing`), raised with the
other bad-file errors before any image is generated.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .credentials import TEST_CERT_HINT, Credentials, read_credentials
from .embed import trial_sign

ENV_CERTIFICATE = "RECAP_C2PA_CERT"
ENV_PRIVATE_KEY = "RECAP_C2PA_KEY"
ENV_TSA_URL = "RECAP_C2PA_TSA_URL"
KEYS = ("sign", "certificate", "private_key", "tsa_url")


@dataclass(frozen=True)
class SigningSettings:
    certificate: Path | None  # PEM: the signing certificate, then the CA certificates above it
    private_key: Path | None  # PEM: the signing certificate's private key
    tsa_url: str | None = None  # an RFC 3161 time-stamp authority; None: no time stamp, no network
    sign: bool = True  # False: images are written unsigned, by the user's choice


def signing_settings(
    config: Mapping | None,
    *,
    root: Path,
    no_sign: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> SigningSettings:
    """params.yaml's `provenance:` mapping (None: absent) with the environment over it; `no_sign`
    (the command's --no-sign) turns signing off whatever the config says. Unknown keys and
    values of the wrong type are ValueErrors naming them."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown provenance settings {unknown}; known: {list(KEYS)}")
    sign = config.get("sign", True)
    if not isinstance(sign, bool):
        raise ValueError(f"provenance: sign must be true or false, got {sign!r}")
    settings = SigningSettings(
        certificate=_config_path(config, "certificate", root),
        private_key=_config_path(config, "private_key", root),
        tsa_url=_text(config, "tsa_url"),
        sign=sign and not no_sign,
    )
    overrides: dict[str, object] = {}
    if environ.get(ENV_CERTIFICATE):
        overrides["certificate"] = Path(environ[ENV_CERTIFICATE]).expanduser()
    if environ.get(ENV_PRIVATE_KEY):
        overrides["private_key"] = Path(environ[ENV_PRIVATE_KEY]).expanduser()
    if environ.get(ENV_TSA_URL):
        overrides["tsa_url"] = environ[ENV_TSA_URL]
    settings = replace(settings, **overrides)
    if settings.tsa_url is not None and not settings.tsa_url.startswith(("http://", "https://")):
        raise ValueError(f"provenance: tsa_url must be an http(s) URL, got {settings.tsa_url!r}")
    return settings


def check_signing(settings: SigningSettings) -> None:
    """Nothing when signing is off, or its certificate chain and key are usable; else a
    ValueError saying what to configure, or naming the bad file and what is wrong with it.
    Usable means the SDK signs with them: a one-pixel image is signed and thrown away."""
    credentials = signing_credentials(settings)
    if credentials is not None:
        trial_sign(credentials)


def signing_credentials(settings: SigningSettings) -> Credentials | None:
    """The chain and key to sign with, their files checked (credentials.py), not yet tried with the
    SDK; None when signing is off. Raises as check_signing."""
    if not settings.sign:
        return None
    certificate, private_key = settings.certificate, settings.private_key
    if certificate is None or private_key is None:
        missing = [
            f"the {what} ({env} or params.yaml's provenance: {key})"
            for what, env, key, value in (
                ("certificate chain", ENV_CERTIFICATE, "certificate", certificate),
                ("private key", ENV_PRIVATE_KEY, "private_key", private_key),
            )
            if value is None
        ]
        raise ValueError(
            f"C2PA signing is on but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; "
            f"{TEST_CERT_HINT}, or pass --no-sign (params.yaml: provenance: sign: false) to write unsigned images"
        )
    return read_credentials(certificate, private_key)


def _config_path(config: Mapping, key: str, root: Path) -> Path | None:
    value = _text(config, key)
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(root) / path


def _text(config: Mapping, key: str) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"provenance: {key} must be a non-empty string, got {value!r}")
    return value
