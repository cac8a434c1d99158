"""`recap provenance test-cert` and `recap provenance verify`, through their parser as `recap`'s
main adds and dispatches it (add_provenance_parser on its subparsers, then args.handler(args))."""

from __future__ import annotations

import argparse
import json
from importlib.metadata import version
from pathlib import Path

import pytest

from components.provenance import TestCertificates
from recap_dagster.provenance_cli import add_provenance_parser
from tests.provenance.tampering import reencoded_pixels


def recap(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recap")
    commands = parser.add_subparsers(dest="command", required=True)
    add_provenance_parser(commands)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_test_cert_writes_the_files_and_says_how_to_use_them(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "certs"
    assert recap(["provenance", "test-cert", str(out_dir)]) == 0
    out = capsys.readouterr().out
    for name in ("ca.pem", "signing.pem", "signing.key"):
        assert (out_dir / name).is_file() and str(out_dir / name) in out
    assert f"RECAP_C2PA_CERT={out_dir / 'signing.pem'}" in out
    assert f"RECAP_C2PA_KEY={out_dir / 'signing.key'}" in out
    assert f"recap provenance verify IMAGE.png --trust {out_dir / 'ca.pem'}" in out
    assert "TESTING ONLY" in out

    before = (out_dir / "ca.pem").read_bytes()
    assert recap(["provenance", "test-cert", str(out_dir)]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert (out_dir / "ca.pem").read_bytes() == before
    assert recap(["provenance", "test-cert", str(out_dir), "--overwrite"]) == 0
    assert (out_dir / "ca.pem").read_bytes() != before


def test_verify_a_trusted_image(tmp_path: Path, signed: bytes, certs: TestCertificates, capsys) -> None:
    image = tmp_path / "image.png"
    image.write_bytes(signed)
    assert recap(["provenance", "verify", str(image), "--trust", str(certs.ca)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{image}: trusted:")
    text = "\n".join(lines)
    assert f"claim generator: recap {version('recap')}" in text
    assert "action: c2pa.created, digital source type trainedAlgorithmicMedia" in text
    assert "signed by: recap test signer (for testing only)" in text
    assert "org.recap.generation:" in text and "  model_version: 7" in text and "  upsampled: True" in text
    assert "errors:" not in text


def test_verify_without_a_trust_list_is_valid(tmp_path: Path, signed: bytes, capsys) -> None:
    image = tmp_path / "image.png"
    image.write_bytes(signed)
    assert recap(["provenance", "verify", str(image)]) == 0
    assert capsys.readouterr().out.startswith(f"{image}: valid:")


def test_verify_a_tampered_image_says_why_before_the_facts(
    tmp_path: Path, signed: bytes, certs: TestCertificates, capsys
) -> None:
    image = tmp_path / "edited.png"
    image.write_bytes(reencoded_pixels(signed))
    assert recap(["provenance", "verify", str(image), "--trust", str(certs.ca)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{image}: invalid:")
    assert out.index("errors:") < out.index("assertion.dataHash.mismatch") < out.index("claim generator:")


def test_verify_json(tmp_path: Path, signed: bytes, certs: TestCertificates, capsys) -> None:
    image = tmp_path / "image.png"
    image.write_bytes(signed)
    assert recap(["provenance", "verify", str(image), "--trust", str(certs.ca), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["file"], report["state"], report["errors"]) == (str(image), "trusted", [])
    assert report["manifest"]["claim_generator_info"][0]["name"] == "recap"


def test_verify_an_unsigned_image(tmp_path: Path, png: bytes, capsys) -> None:
    image = tmp_path / "plain.png"
    image.write_bytes(png)
    assert recap(["provenance", "verify", str(image)]) == 1
    assert capsys.readouterr().out.startswith(f"{image}: no manifest:")


def test_verify_bad_input_is_a_usage_error(tmp_path: Path, signed: bytes, capsys) -> None:
    assert recap(["provenance", "verify", str(tmp_path / "missing.png")]) == 2
    assert "missing.png" in capsys.readouterr().err
    image = tmp_path / "image.png"
    image.write_bytes(signed)
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    assert recap(["provenance", "verify", str(image), "--trust", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
