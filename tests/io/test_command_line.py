"""The experiments' shared argument parsers: KEY=VALUE read as JSON, then YAML, then text, and
LABEL=PATH; a malformed argument is refused by argparse naming it; the rewriter's two decoding
flags, each on, off or left to the rewriter."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from components.io.command_line import add_rewrite_decoding_flags, labelled_path, setting


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sampling.guidance_scale=7", ("sampling.guidance_scale", 7)),
        ("lr=1e-4", ("lr", 1e-4)),  # JSON first: YAML 1.1 would read 1e-4 as text
        ("progress_bar=false", ("progress_bar", False)),
        ("max_minutes=null", ("max_minutes", None)),
        ("keep_steps=[2, 4]", ("keep_steps", [2, 4])),
        ("mixes=[paper, oracle]", ("mixes", ["paper", "oracle"])),  # YAML's flow list
        ("shares={long: 1.0}", ("shares", {"long": 1.0})),
        ("preset=small_seq2seq", ("preset", "small_seq2seq")),
        ("init=work/run/a=b", ("init", "work/run/a=b")),  # only the first = splits
        (" unet = tiny", ("unet", "tiny")),  # spaces around the = do not count
        ("note=[unclosed", ("note", "[unclosed")),  # neither JSON nor YAML: the text itself
    ],
)
def test_a_setting_reads_its_value(text: str, expected: tuple) -> None:
    assert setting(text) == expected


@pytest.mark.parametrize("text", ["caption_dropout", "=3", "  =3"])
def test_a_setting_without_a_key_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=f"expected KEY=VALUE, got {text!r}"):
        setting(text)


def test_a_labelled_path() -> None:
    assert labelled_path("paper=work/claim_paper/pipeline") == ("paper", Path("work/claim_paper/pipeline"))
    for text in ("paper", "=somewhere", "paper="):
        with pytest.raises(argparse.ArgumentTypeError, match="expected LABEL=PATH"):
            labelled_path(text)


def test_argparse_names_the_bad_argument(capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", action="append", default=[], type=setting)
    assert dict(parser.parse_args(["--set", "a=1", "--set", "b=x"]).set) == {"a": 1, "b": "x"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--set", "nothing"])
    assert "expected KEY=VALUE, got 'nothing'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "keep", "forbid"),
    [
        ([], None, None),  # left out: the rewriter's own setting
        (["--keep-prompt", "--forbid-contradictions"], True, True),
        (["--no-keep-prompt", "--forbid-contradictions"], False, True),
        (["--keep-prompt", "--no-forbid-contradictions"], True, False),
    ],
)
def test_the_rewrite_decoding_flags(argv: list[str], keep: bool | None, forbid: bool | None) -> None:
    parser = argparse.ArgumentParser(formatter_class=lambda prog: argparse.HelpFormatter(prog, width=400))
    add_rewrite_decoding_flags(parser, unset="the manifest")
    args = parser.parse_args(argv)
    assert (args.keep_prompt, args.forbid_contradictions) == (keep, forbid)
    assert parser.format_help().count("(default: the manifest)") == 2
