"""`recap evaluate`: the benchmark (components/evaluation/benchmark*.py) from the shell.

    recap evaluate --write-prompts DIR [--per-category 8] [--forms short long unseen]
    recap evaluate --images DIR [--strict] [--json OUT] [--reference DIR2]
    recap evaluate --pipeline PATH [--out DIR] [--per-category N] [--samples 1] [--forms ...]

Its prompts written in GenEval's layout for any generator, a folder of anyone's images judged
(with --reference, preferred over another folder of the same prompts), or a generator directory
drawn with fixed seeds under the safety policy and judged. An option of another mode, a folder
that is not this suite's, or prompts that do not pair are refused before any work: exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from recap_dagster.cli import checked_params, configure_environment

EVALUATE_DEFAULT_PER_CATEGORY = 8
EVALUATE_MODES = ("write_prompts", "images", "pipeline")
EVALUATE_OPTIONS = {  # option -> the modes it goes with
    "per_category": ("write_prompts", "pipeline"),
    "forms": ("write_prompts", "pipeline"),
    "out": ("pipeline",),
    "samples": ("pipeline",),
    "strict": ("images",),
    "json": ("images", "pipeline"),
    "reference": ("images", "pipeline"),
}


def evaluate_command(args: argparse.Namespace) -> int:
    """The benchmark (components/evaluation/benchmark*.py) from the shell: its prompts written
    for any generator, a folder of anyone's images judged, or a generator directory drawn with
    fixed seeds and judged. Bad input stops before any work, naming the file."""
    configure_environment(None)
    mode = next(m for m in EVALUATE_MODES if getattr(args, m))
    try:
        check_evaluate_options(args, mode)
        if mode == "write_prompts":
            return write_benchmark_prompts(args)
        root = Path(args.images).expanduser() if mode == "images" else claim_pipeline_benchmark(args)
    except (ValueError, OSError) as error:
        print(f"recap: {error}", file=sys.stderr)
        return 2
    if root is None:  # params.yaml is wrong, told on stderr
        return 2
    if mode == "pipeline":  # outside the refusals: a generator's own failure shows with its traceback
        if (params := checked_params()) is None:  # the safety policy the drawing runs under
            return 2
        draw_pipeline_benchmark(args, root, params.safety_policy())
    try:
        return judge_benchmark(args, root)
    except (ValueError, OSError) as error:
        print(f"recap: {error}", file=sys.stderr)
        return 2


def check_evaluate_options(args: argparse.Namespace, mode: str) -> None:
    for option, modes in EVALUATE_OPTIONS.items():
        if getattr(args, option) not in (None, False) and mode not in modes:
            flag = f"--{option.replace('_', '-')}"
            raise ValueError(f"{flag} goes with {' or '.join('--' + m.replace('_', '-') for m in modes)}")
    for option in ("per_category", "samples"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            raise ValueError(f"--{option.replace('_', '-')} must be >= 1, got {getattr(args, option)}")


def benchmark_suite_of(args: argparse.Namespace) -> tuple[list, dict]:
    """The suite's entries and what suite.json records of it (besides name, version, prompts)."""
    from components.evaluation.benchmark import benchmark_suite
    from components.evaluation.generator_eval import EVAL_SEED
    from components.evaluation.prompts import FORMS

    per_category = args.per_category or EVALUATE_DEFAULT_PER_CATEGORY
    forms = list(dict.fromkeys(args.forms or FORMS))
    entries = benchmark_suite(per_category, seed=EVAL_SEED, forms=forms)  # ValueError naming an unknown form
    return entries, {"per_category": per_category, "seed": EVAL_SEED, "forms": forms}


def claim_benchmark_dir(root: Path, entries: list, info: dict, clear_samples: bool) -> None:
    """`root` may be written: it is absent, empty, or a benchmark folder of this very suite (then
    its prompts are rewritten as they were and, with `clear_samples`, its samples removed)."""
    import json

    from components.evaluation.benchmark import SUITE_NAME, SUITE_VERSION
    from components.evaluation.benchmark_folder import SAFETY_FILE, SAMPLES, SUITE_FILE

    if not root.exists():
        return
    if not root.is_dir():
        raise NotADirectoryError(f"{root} exists and is not a directory")
    names = {p.name for p in root.iterdir()}
    if not names:
        return
    suite_file = root / SUITE_FILE
    expected = {"suite": SUITE_NAME, "version": SUITE_VERSION, "prompts": len(entries), **info}
    try:
        found = json.loads(suite_file.read_text()) if suite_file.is_file() else None
    except json.JSONDecodeError as error:
        raise ValueError(f"{suite_file} does not parse: {error}") from None
    strangers = sorted(names - {SUITE_FILE, SAFETY_FILE} - {f"{e.index:05d}" for e in entries})
    if found is None:
        why = f"it has no {SUITE_FILE}"
    elif found != expected:
        differ = [k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k)]
        why = f"its {SUITE_FILE} differs: " + ", ".join(
            f"{k} {found.get(k)!r} there, {expected.get(k)!r} here" for k in sorted(differ)
        )
    elif strangers:
        why = f"it holds what this suite does not: {strangers[:5]}"
    else:
        if clear_samples:
            for sample in sorted(root.glob(f"[0-9][0-9][0-9][0-9][0-9]/{SAMPLES}/*.png")):
                sample.unlink()
        return
    raise FileExistsError(f"{root} is not empty and is not a benchmark folder of this suite ({why}); choose another")


def write_benchmark_prompts(args: argparse.Namespace) -> int:
    from components.evaluation.benchmark import SUITE_NAME, SUITE_VERSION
    from components.evaluation.benchmark_folder import write_prompts
    from components.world.palette import IMAGE_SIZE

    entries, info = benchmark_suite_of(args)
    root = Path(args.write_prompts).expanduser()
    claim_benchmark_dir(root, entries, info, clear_samples=False)
    write_prompts(root, entries, **info)
    print(
        f"recap: wrote {len(entries)} prompts to {root}: {SUITE_NAME} v{SUITE_VERSION}, "
        f"{info['per_category']} per category, forms {', '.join(info['forms'])}, seed {info['seed']}\n"
        f'Fill it with any generator: for each {root}/<NNNNN>/metadata.jsonl, draw its "prompt" and save the\n'
        f"images as {root}/<NNNNN>/samples/0000.png, 0001.png, ... ({IMAGE_SIZE} x {IMAGE_SIZE} RGB; another "
        "size or mode is converted, with a note). Then: recap evaluate --images " + str(root)
    )
    return 0


def claim_pipeline_benchmark(args: argparse.Namespace) -> Path | None:
    """--pipeline's folder (--out, default work/benchmark/<the pipeline's folder name>), once the
    pipeline directory, the suite, --out and --reference are checked; nothing is written before.
    None: params.yaml, needed for the default --out, is wrong (told on stderr)."""
    from components.evaluation.benchmark_folder import read_folder
    from components.generator.pipeline import check_pipeline_dir

    pipeline_dir = check_pipeline_dir(Path(args.pipeline).expanduser())
    entries, info = benchmark_suite_of(args)
    if args.reference:
        reference = read_folder(Path(args.reference).expanduser())
        check_same_prompts(entries, "the suite", [p.entry for p in reference.prompts], str(reference.root))
    if args.out:
        root = Path(args.out).expanduser()
    else:
        if checked_params() is None:
            return None
        from recap_dagster.resources import ProjectStorage

        root = ProjectStorage().work_dir("benchmark") / pipeline_dir.resolve().name
    claim_benchmark_dir(root, entries, info, clear_samples=True)
    return root


def draw_pipeline_benchmark(args: argparse.Namespace, root: Path, policy) -> None:
    """The suite's prompts and the pipeline's images of them, with its sampling and fixed seeds,
    under the safety policy (what it refused or blanked: told here, listed in root/safety.json)."""
    from components.evaluation.benchmark_draw import draw_benchmark, pipeline_sampling
    from components.evaluation.benchmark_folder import write_prompts
    from components.generator.pipeline import load_pipeline

    pipeline_dir = Path(args.pipeline).expanduser()
    entries, info = benchmark_suite_of(args)
    write_prompts(root, entries, **info)
    sampling = pipeline_sampling(pipeline_dir)
    samples = args.samples or 1
    print(
        f"recap: drawing {len(entries)} prompts x {samples} sample(s) from {pipeline_dir} into {root} "
        f"({sampling.steps} steps, guidance {sampling.guidance_scale:g}, rescale {sampling.guidance_rescale:g})",
        file=sys.stderr,
    )
    report = draw_benchmark(
        load_pipeline(pipeline_dir), root, entries, samples_per_prompt=samples, sampling=sampling, policy=policy
    )
    if report is not None and (report.refused or report.blanked):
        print(
            f"recap: the safety policy ({report.policy_version}) refused {len(report.refused)} prompt(s), left "
            f"undrawn (judged missing), and blanked {len(report.blanked)} image(s): {root}/safety.json",
            file=sys.stderr,
        )


def check_same_prompts(a: list, a_name: str, b: list, b_name: str) -> None:
    """Two sets of benchmark entries pair up only when they hold the same prompts under the same keys."""
    prompts_a = {e.key: e.prompt for e in a}
    prompts_b = {e.key: e.prompt for e in b}
    only_a = [e for e in a if prompts_b.get(e.key) != e.prompt]
    only_b = [e for e in b if prompts_a.get(e.key) != e.prompt]
    if only_a or only_b:

        def some(entries: list, name: str) -> str:
            example = f" (e.g. {entries[0].index:05d}, {entries[0].key})" if entries else ""
            return f"{len(entries)} only in {name}{example}"

        raise ValueError(
            f"{a_name} and {b_name} hold different prompts: {some(only_a, a_name)}, {some(only_b, b_name)}; "
            "write both from one suite (recap evaluate --write-prompts)"
        )


def judge_benchmark(args: argparse.Namespace, root: Path) -> int:
    """The folder's table on stdout; with --reference, the preference rate over it; with --json,
    the same numbers in a file."""
    import json

    from components.evaluation.benchmark_folder import read_folder
    from components.evaluation.benchmark_judge import judge_folder
    from components.evaluation.benchmark_table import preference_json, preference_lines, result_json, result_table
    from components.evaluation.preference import preference_rate

    folder = read_folder(root)
    reference = read_folder(Path(args.reference).expanduser()) if args.reference else None
    if reference is not None:
        check_same_prompts(
            [p.entry for p in folder.prompts], str(root), [p.entry for p in reference.prompts], str(reference.root)
        )
    result = judge_folder(folder, args.strict)
    suite = folder.suite
    described = f"{suite.get('suite')} v{suite.get('version')}" if suite else "a folder without suite.json"
    print(
        f"{root} ({described}): {len(result.samples)} images; an image passes when every clause of its prompt "
        "holds (GenEval's rule); 95% Wilson intervals\n"
    )
    print(result_table(result))
    report = {"images": str(root), "suite": suite, **result_json(result)}
    if reference is not None:
        other = judge_folder(reference, args.strict)
        forms = [[f] for f in result.forms] + ([result.forms] if len(result.forms) > 1 else [])
        try:
            rates = {"+".join(f): preference_rate(result.verdicts(f), other.verdicts(f)) for f in forms}
        except ValueError as error:
            raise ValueError(f"{root} against {reference.root}: {error}") from None
        print(f"\npreference of {root} over {reference.root} (the image passing more clauses wins a pair):")
        print(preference_lines(rates, "A", "B"))
        report["reference"] = {"images": str(reference.root), "preference": preference_json(rates)}
    if args.json:
        out = Path(args.json).expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"recap: wrote {out}", file=sys.stderr)
    return 0


def add_evaluate_parser(commands: Any) -> None:
    ev = commands.add_parser("evaluate", help="the benchmark: write its prompts, judge images or a generator")
    mode = ev.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write-prompts", metavar="DIR", help="write the suite in GenEval's layout for any generator")
    mode.add_argument("--images", metavar="DIR", help="judge a benchmark folder whose samples anything drew")
    mode.add_argument("--pipeline", metavar="PATH", help="draw the suite with a generator directory, then judge it")
    ev.add_argument("--per-category", type=int, help=f"prompts per category (default {EVALUATE_DEFAULT_PER_CATEGORY})")
    ev.add_argument("--forms", nargs="+", metavar="FORM", help="prompt forms (default: short long unseen)")
    ev.add_argument("--out", metavar="DIR", help="--pipeline's folder (default: work/benchmark/<its folder name>)")
    ev.add_argument("--samples", type=int, help="--pipeline's images per prompt (default 1)")
    ev.add_argument("--strict", action="store_true", help="refuse samples that are not 64 x 64 RGB")
    ev.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    ev.add_argument("--reference", metavar="DIR", help="a folder of the same prompts: the preference rate over it")
    ev.set_defaults(handler=evaluate_command)
