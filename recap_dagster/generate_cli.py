"""`recap generate`: an image for a prompt, behind the safety policy and signed with C2PA.

    recap generate "a red circle" --out img.png [--mix paper | --pipeline DIR] [--no-upsample] [--no-sign]

In order, each step before any work of the next:
1. the arguments, the generator directory, the policy (params.yaml `safety:`) and the signing key
   (`provenance:`, $RECAP_C2PA_CERT / $RECAP_C2PA_KEY) are checked: exit 2 naming what is wrong;
2. the user's prompt is checked against the policy, then rewritten (unless --no-upsample) and the
   rewrite checked: a refusal names the rule, is logged (safety_log.py), generates nothing: exit 3;
3. the images are drawn and screened: one the image checks refuse (a blocked word read off a
   drawn sign, a classifier) is replaced by a blank one and named on stderr, never dropped;
4. the PNG (--count images side by side) is signed with a C2PA manifest saying what drew it and
   from which prompts (by SHA-256), then written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from recap_dagster.cli import checked_params, configure_environment
from recap_dagster.upsample_cli import add_rewriter_flags, open_cli_upsampler

if TYPE_CHECKING:
    from components.provenance import SigningSettings
    from components.safety import SafetyPolicy

REFUSED_EXIT = 3  # the policy refused the prompt or its rewrite: nothing was generated


def prompt_to_draw(args: argparse.Namespace, params) -> str | None:
    """The text `recap generate` draws from, told on stderr: the prompt's guarded rewrite,
    seeded by --seed (one for all --count images), or the prompt itself (--no-upsample, an
    empty prompt, or every rewrite failing the intent check). None: no rewriter (told)."""
    if args.no_upsample:
        return args.prompt
    if not args.prompt.strip():  # unconditional generation: nothing to rewrite, no rewriter needed
        print("recap: the empty prompt draws unconditionally: not rewritten", file=sys.stderr)
        return args.prompt
    upsampler = open_cli_upsampler(args, params, "or pass --no-upsample to draw from the prompt as written")
    if upsampler is None:
        return None
    result = upsampler.upsample(args.prompt)
    shared = f", one rewrite for all {args.count} images" if args.count > 1 else ""
    if result.used_fallback:
        failures = f" ({'; '.join(result.failures)})" if result.failures else ""
        print(f"recap: {result.note}{failures}{shared}; drawing from:\n  {result.text}", file=sys.stderr)
    else:
        print(f"recap: upsampled by {upsampler.name}, {result.note}{shared}; drawing from:", file=sys.stderr)
        print(f"  {result.text}", file=sys.stderr)
    return result.text


def refused(policy: SafetyPolicy, text: str, stage: str) -> bool:
    """True when the policy refuses `text` (stage "prompt": the user's; "rewrite": the rewriter's),
    told on stderr and logged to MLflow's `recap-safety` experiment."""
    from components.safety import check_prompt, refusal_message

    verdict = check_prompt(policy, text)
    if verdict.allowed:
        return False
    print(f"recap: {refusal_message(verdict, stage)}; nothing was generated", file=sys.stderr)
    from recap_dagster.safety_log import log_refusal

    try:
        run_id = log_refusal(where="recap generate", stage=stage, verdict=verdict, prompt=text, policy=policy)
        print(f"recap: the refusal is logged as MLflow run {run_id} (experiment recap-safety)", file=sys.stderr)
    except Exception as error:  # the refusal stands; the user is told that its record failed
        print(f"recap: the refusal could not be logged to MLflow: {error}", file=sys.stderr)
    return True


def registered_version(pipeline_hash: str) -> str:
    """`recap-generator/<version>` of the registered version tagged with this pipeline's hash in
    the project's MLflow registry, else "unregistered"."""
    from recap_dagster.defs.generator import REGISTERED_GENERATOR
    from recap_dagster.resources import MlflowTracking

    client = MlflowTracking().client()
    found = client.search_model_versions(f"name = '{REGISTERED_GENERATOR}' and tags.pipeline_hash = '{pipeline_hash}'")
    versions = sorted((int(v.version) for v in found), reverse=True)
    return f"{REGISTERED_GENERATOR}/{versions[0]}" if versions else "unregistered"


def signed_png(
    image, args: argparse.Namespace, text: str, pipeline_dir: Path, policy: SafetyPolicy, signing: SigningSettings
) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes carrying a C2PA manifest of this generation (unchanged
    bytes when signing is off by choice)."""
    from PIL import Image

    from components.data.preview import png_bytes
    from components.io.hashing import directory_version
    from components.provenance import claim_of_prompts, sign_png

    data = png_bytes(Image.fromarray(image))
    if not signing.sign:
        return data
    pipeline_hash = directory_version(pipeline_dir)
    claim = claim_of_prompts(
        model_version=registered_version(pipeline_hash),
        pipeline_hash=pipeline_hash,
        user_prompt=args.prompt,
        drawn_prompt=text,
        filters=policy.claim_filters(),
        seed=args.seed,
    )
    return sign_png(data, claim, signing)


def checked_setup(args: argparse.Namespace, params) -> tuple[Path, SafetyPolicy, SigningSettings] | None:
    """(pipeline directory, policy, signing settings) once every argument and file is checked;
    None when one is wrong (told on stderr)."""
    if args.pipeline:
        pipeline_dir = Path(args.pipeline).expanduser()
    else:
        from recap_dagster.resources import ProjectStorage

        pipeline_dir = ProjectStorage().generator_dir(args.mix or "paper")
    from components.generator.pipeline import check_pipeline_dir
    from components.provenance import check_signing

    trains = "" if args.pipeline else f" (recap materialize generator -p {args.mix or 'paper'} trains it)"
    try:
        if args.guidance < 0:
            raise ValueError(f"--guidance must be >= 0, got {args.guidance}")
        if args.count < 1:
            raise ValueError(f"--count must be >= 1, got {args.count}")
        try:
            check_pipeline_dir(pipeline_dir)
        except (ValueError, OSError) as error:
            raise type(error)(f"{error}{trains}") from None
        signing = params.signing_settings(no_sign=args.no_sign)
        check_signing(signing)
    except (ValueError, OSError) as error:
        print(f"recap: {error}", file=sys.stderr)
        return None
    return pipeline_dir, params.safety_policy(), signing


def generate_command(args: argparse.Namespace) -> int:
    """One image per seed from a generator directory (or the project's of --mix), drawn from the
    prompt's guarded rewrite (prompt_to_draw) or, with --no-upsample, from the prompt as written,
    both checked against the safety policy; the images screened, signed and written."""
    configure_environment(None)
    if (params := checked_params()) is None:  # the policy and the signing key live in params.yaml
        return 2
    if (setup := checked_setup(args, params)) is None:
        return 2
    pipeline_dir, policy, signing = setup
    if refused(policy, args.prompt, "prompt"):
        return REFUSED_EXIT
    if (text := prompt_to_draw(args, params)) is None:
        return 2
    if text != args.prompt and refused(policy, text, "rewrite"):
        return REFUSED_EXIT
    import numpy as np

    from components.generator.pipeline import generate, load_pipeline
    from components.generator.train.stage import default_rescale
    from components.io.atomic import write_file_atomically
    from components.safety import screen_images

    pipe = load_pipeline(pipeline_dir, args.scheduler)
    images = generate(
        pipe,
        [text] * args.count,
        seed=args.seed,
        steps=args.steps,
        guidance_scale=args.guidance,
        guidance_rescale=default_rescale(pipeline_dir) if args.rescale is None else args.rescale,
    )
    screened = screen_images(policy, images)
    for index, (flagged, verdict) in enumerate(zip(screened.flagged, screened.verdicts, strict=True)):
        if flagged:
            print(
                f"recap: image {index + 1} (seed {args.seed + index}) blanked: rule {verdict.rule}: {verdict.reason}",
                file=sys.stderr,
            )
    data = signed_png(np.concatenate(list(screened.images), axis=1), args, text, pipeline_dir, policy, signing)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(out, lambda temp: temp.write_bytes(data), temp_suffix=".png")
    drawn = "" if text == args.prompt else " (from its rewrite)"
    signed = "signed with C2PA" if signing.sign else "unsigned (--no-sign)"
    print(
        f"recap: {args.count} image(s) of {args.prompt!r}{drawn} from {pipeline_dir} -> {out}, {signed}",
        file=sys.stderr,
    )
    return 0


def add_generate_parser(commands) -> None:
    gen = commands.add_parser("generate", help="an image for a prompt from a trained generator")
    gen.add_argument("prompt", help='the prompt; "" generates unconditionally')
    gen.add_argument("--out", required=True, help="image file to write (PNG); --count images side by side")
    gen.add_argument("--mix", help="the project's generator of this mix (default: paper)")
    gen.add_argument("--pipeline", help="a generator directory instead (any diffusers pipeline directory)")
    gen.add_argument("--seed", type=int, default=0, help="the first image's seed, and the rewrite's")
    gen.add_argument("--count", type=int, default=1, help="images, seeds seed .. seed + count - 1")
    gen.add_argument("--steps", type=int, default=30)
    gen.add_argument("--guidance", type=float, default=4.0, help="classifier-free guidance scale (>= 0)")
    gen.add_argument("--rescale", type=float, help="guidance rescale in [0, 1] (default: the generator's objective's)")
    gen.add_argument("--scheduler", choices=["ddim", "dpm_solver", "euler"], help="default: the pipeline's")
    gen.add_argument("--no-upsample", action="store_true", help="draw from the prompt as written, not its rewrite")
    gen.add_argument(
        "--no-sign",
        action="store_true",
        help="write the image without a C2PA manifest (otherwise params.yaml's provenance: key signs it)",
    )
    add_rewriter_flags(gen)
    gen.set_defaults(handler=generate_command)
