"""`recap upsample`: guarded rewrites of a prompt by the configured rewriter, and the rewriter's
flags and settings that `recap generate` shares.

    recap upsample "a red circle" [-n 4] [--json] [--seed S] [--backend local|transformers|openai]
        [--model M] [--base-url URL] [--tries T] [--[no-]keep-prompt] [--[no-]forbid-contradictions]

Each flag left out keeps params.yaml's `rewriter:`. A rewriter that cannot be opened (a missing
directory, a bad setting) is named on stderr before any model loads: exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.io.command_line import add_rewrite_decoding_flags
from recap_dagster.cli import checked_params, configure_environment

if TYPE_CHECKING:
    from components.upsampling.backends import RewriterSettings
    from components.upsampling.guard import GuardedRewrite
    from components.upsampling.upsampler import Upsampler


def rewriter_settings(args: argparse.Namespace, params) -> RewriterSettings:
    """params.yaml's `rewriter:` with the command's flags over it. A --backend other than
    params.yaml's drops its model and base URL, which name another backend's model."""
    from dataclasses import replace

    settings = params.rewriter_settings()
    flags = {
        "backend": args.backend,
        "model": args.model,
        "base_url": args.base_url,
        "tries": args.tries,
        "keep_prompt": args.keep_prompt,
        "forbid_contradictions": args.forbid_contradictions,
        "seed": args.seed,
    }
    if args.backend is not None and args.backend != settings.backend:
        flags = {"model": "", "base_url": "", **{k: v for k, v in flags.items() if v is not None}}
    return replace(settings, **{k: v for k, v in flags.items() if v is not None})  # checked again: ValueError


def open_cli_upsampler(args: argparse.Namespace, params, fix: str) -> Upsampler | None:
    """The configured rewriter behind the guard; None after saying on stderr why not. A local
    rewriter's missing directory is named before any model loads; the project's own, never
    trained, with how to train it and `fix` (what else the user can do)."""
    from components.upsampling.backends import open_upsampler
    from recap_dagster.resources import ProjectStorage

    try:
        if args.tries is not None and args.tries < 1:
            raise ValueError(f"--tries must be >= 1, got {args.tries}")
        settings = rewriter_settings(args, params)
        project_dir = ProjectStorage().upsampler_dir()
        directory = Path(settings.model).expanduser() if settings.model else project_dir
        if settings.backend == "local" and not directory.is_dir():
            why = "no such directory" if settings.model else f"`recap materialize prompt_upsampler` trains it; {fix}"
            raise FileNotFoundError(f"no prompt upsampler at {directory}: {why}")
        return open_upsampler(settings, project_dir)
    except (ValueError, OSError) as error:
        print(f"recap: {error}", file=sys.stderr)
        return None


def rewrite_status(result: GuardedRewrite) -> str:
    """One word for how a guarded rewrite ended: passed, fell back, or unchanged (an empty prompt)."""
    if result.used_fallback:
        return "fell back"
    return "passed" if result.attempts else "unchanged"


def rewrite_lines(index: int, result: GuardedRewrite) -> list[str]:
    """`recap upsample`'s lines for one rewrite: the text, then how it ended and each failure."""
    lines = [f"{index}. {result.text or '(empty)'}", f"   {rewrite_status(result)}: {result.note}"]
    return lines + [f"     {failure}" for failure in result.failures]


def upsample_command(args: argparse.Namespace) -> int:
    """-n guarded rewrites of the prompt by the configured rewriter: readable on stdout (each
    rewrite, whether it passed the intent check or fell back to the prompt, and why), or with
    --json one object {prompt, rewriter, rewrites: [{text, used_fallback, attempts, failures,
    note, rejected}], stats}."""
    import json
    from dataclasses import asdict

    configure_environment(None)
    if (params := checked_params()) is None:
        return 2
    if args.n < 1:
        print(f"recap: -n must be >= 1, got {args.n}", file=sys.stderr)
        return 2
    upsampler = open_cli_upsampler(args, params, "or name a saved one with --model")
    if upsampler is None:
        return 2
    print(f"recap: {args.n} rewrite(s) of {args.prompt!r} by {upsampler.name}", file=sys.stderr)
    results = upsampler.upsample_many(args.prompt, args.n)
    if args.json:
        rewrites = [asdict(result) for result in results]
        report = {"prompt": args.prompt, "rewriter": upsampler.name, "rewrites": rewrites}
        print(json.dumps({**report, "stats": upsampler.stats.as_dict()}, indent=2))
        return 0
    for index, result in enumerate(results, 1):
        print("\n".join(rewrite_lines(index, result)))
    stats = upsampler.stats
    print(
        f"recap: {stats.rewritten} rewritten, {stats.fallbacks} fell back to the prompt as written; "
        f"{stats.rewritten} of {stats.attempts} rewrites passed the intent check",
        file=sys.stderr,
    )
    return 0


# components.upsampling.backends.BACKENDS, written out: importing it (the intent check, the
# world's caption reader) would slow every command's start by a third of a second.
REWRITER_BACKENDS = ("local", "transformers", "openai")


def add_rewriter_flags(parser: argparse.ArgumentParser) -> None:
    """The rewriter's flags of `upsample` and `generate`; each left out keeps params.yaml's `rewriter:`."""
    parser.add_argument(
        "--backend", choices=REWRITER_BACKENDS, help="the rewriter (default: params.yaml's, else local)"
    )
    parser.add_argument(
        "--model",
        help="local: a saved rewriter (default: models/upsampler); transformers: path or hub id; openai: name",
    )
    parser.add_argument("--base-url", help="openai: the chat-completions endpoint, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--tries", type=int, help="rewrites tried before the prompt is drawn as written")
    add_rewrite_decoding_flags(parser, unset="local and transformers: the local rewriter's manifest")


def add_upsample_parser(commands: Any) -> None:
    ups = commands.add_parser("upsample", help="rewrite a short prompt into detailed captions, guarded by intent")
    ups.add_argument("prompt", help='the prompt; "" is returned as it is')
    ups.add_argument("-n", type=int, default=1, help="rewrites to sample (default 1)")
    ups.add_argument("--json", action="store_true", help="one JSON object on stdout instead of lines")
    ups.add_argument("--seed", type=int, help="seed the rewriter's sampling (default: params.yaml's, else unseeded)")
    add_rewriter_flags(ups)
    ups.set_defaults(handler=upsample_command)
