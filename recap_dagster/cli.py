"""`recap`: materialize assets through Dagster from a shell, DVC stage or CI.

    recap materialize --all                   every asset, every partition, in graph order
                                              (the generator: the profile's mixes, two on quick)
    recap materialize web_shards              one asset (all its partitions)
    recap materialize generator -p oracle     the generator of another mix
    recap materialize web_shards -p 00002     one partition
    recap materialize --all --profile paper   another profile ($RECAP_PROFILE for the run)
    recap materialize --all --verbose         Dagster's debug log and every library's messages
                                              live (otherwise: into logs/materialize-*.log)
    recap materialize --all --fixed-budgets   the recipes' training budgets as they are, even on a
                                              machine slower than the profile's reference
                                              (otherwise --all shrinks them: job_budget.py)
    recap list                                assets, their partitions and dependencies
    recap metrics [captioner ...]             DVC's metrics/ and plots/ files from what is on disk
                                              (materialize writes them for the assets it ran)
    recap recaption --source DIR_OR_URL --out DIR_OR_URL [--captioner PATH] [--engine ray [--ray-address A]]
                                              a user's img2dataset output into sidecars (s3://, gs://,
                                              file:// or a folder), in process or on a Ray cluster
    recap upsample "a red circle" [-n 4] [--json] [--backend local|transformers|openai] [--model M]
                                              guarded rewrites of a prompt (params.yaml's rewriter:)
    recap generate "a red circle to the left of a blue square" --out img.png [--mix paper]
                                              an image from a trained generator, drawn from the
                                              prompt's guarded rewrite (--no-upsample: as written),
                                              under the safety policy, signed with C2PA (--no-sign)
    recap provenance test-cert DIR            a test CA and signing certificate (testing only)
    recap provenance verify FILE [--trust CA] an image's C2PA manifest and validation state
    recap evaluate --write-prompts DIR [--per-category 8] [--forms short long unseen]
                                              the benchmark's prompts in GenEval's layout
    recap evaluate --images DIR [--strict] [--json OUT] [--reference DIR2]
                                              judge anyone's images of them (and prefer over DIR2)
    recap evaluate --pipeline PATH [--out DIR] [--per-category N] [--samples 1] [--forms ...]
                                              draw them with a generator directory and judge
Runs execute in this process and are recorded in $DAGSTER_HOME (default: the project's
.dagster_home/), so they show in the Dagster UI like runs launched from it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from components.io.command_line import add_rewrite_decoding_flags

if TYPE_CHECKING:
    from components.upsampling.backends import RewriterSettings
    from components.upsampling.guard import GuardedRewrite
    from components.upsampling.upsampler import Upsampler
    from recap_dagster.console import MaterializeReport


def configure_environment(profile: str | None, source: str | None = None) -> None:
    """Before Dagster or the definitions are imported: they read these."""
    from recap_dagster.project import project_root

    root = project_root()
    os.environ.setdefault("RECAP_ROOT", str(root))
    os.environ.setdefault("DAGSTER_HOME", str(root / ".dagster_home"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    if profile:
        os.environ["RECAP_PROFILE"] = profile
    if source:
        os.environ["RECAP_SOURCE"] = source


def selected_in_order(names: list[str], select_all: bool) -> list:
    """The selected asset definitions, upstream first."""
    from recap_dagster.definitions import ASSETS, defs

    by_name = {a.key.to_user_string(): a for a in ASSETS}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise SystemExit(f"recap: unknown asset(s) {unknown}; known: {sorted(by_name)}")
    if not select_all and not names:
        raise SystemExit("recap: name assets to materialize, or pass --all")
    order = [key.to_user_string() for key in defs.resolve_asset_graph().toposorted_asset_keys]
    wanted = set(by_name) if select_all else set(names)
    return [by_name[name] for name in order if name in wanted]


MAIN_JOB_PARTITIONS = "recap/main_job_partitions"  # asset metadata: {profile: [partition, ...]}


def main_job_partitions(asset_def) -> list[str] | None:
    """The partitions the main job materializes of an asset that names them per profile (the
    generator: two mixes on `quick`); None: every partition."""
    entry = asset_def.specs_by_key[asset_def.key].metadata.get(MAIN_JOB_PARTITIONS)
    if entry is None:
        return None
    by_profile = getattr(entry, "value", entry)  # Dagster wraps a dict in a JsonMetadataValue
    from recap_dagster.config import PARAMS

    return list(by_profile.get(PARAMS.profile, [])) or None


def run_groups(asset_def, only: list[str] | None, instance=None) -> list[list[str]]:
    """The partitions of each run: one run per partition, or, for an asset whose backfill
    policy takes several, consecutive ranges of up to max_partitions_per_run (as a backfill
    launched from the UI would). [[]] for an unpartitioned asset. Dynamic partitions are read
    from `instance`."""
    if asset_def.partitions_def is None:
        return [[]]
    all_keys = asset_def.partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    keys = list(all_keys)
    only = only or main_job_partitions(asset_def)
    if only:
        if unknown := sorted(set(only) - set(keys)):
            raise SystemExit(f"recap: unknown partition(s) {unknown} of {asset_def.key.to_user_string()}")
        keys = [k for k in keys if k in set(only)]
    policy = asset_def.backfill_policy
    per_run = 1 if policy is None else (policy.max_partitions_per_run or len(keys))
    groups: list[list[str]] = []
    for key in keys:  # a range must be contiguous in the partitions definition
        if groups and len(groups[-1]) < per_run and all_keys.index(key) == all_keys.index(groups[-1][-1]) + 1:
            groups[-1].append(key)
        else:
            groups.append([key])
    return groups


def partition_arguments(partitions: list[str], tags: dict[str, str]) -> dict:
    """dagster.materialize's arguments for one partition or a range of them."""
    if not partitions:
        return {"tags": tags}
    if len(partitions) == 1:
        return {"partition_key": partitions[0], "tags": tags}
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    return {
        "tags": {**tags, ASSET_PARTITION_RANGE_START_TAG: partitions[0], ASSET_PARTITION_RANGE_END_TAG: partitions[-1]}
    }


def to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def prepare_instance(say: Callable[[str], None] = to_stderr):
    """The instance, after setting its pool limits (deploy/pools.yaml), releasing the runs of
    killed `recap` processes, ending MLflow runs their Dagster runs left open, and syncing a
    user source's partitions with its listing; what it did is told to `say`."""
    from dagster import DagsterInstance

    from recap_dagster.config import sync_source_partitions
    from recap_dagster.dead_runs import release_dead_runs
    from recap_dagster.definitions import RESOURCES
    from recap_dagster.pools import apply_pool_limits

    instance = DagsterInstance.get()
    apply_pool_limits(instance)
    if released := release_dead_runs(instance, RESOURCES["mlflow"].fail_runs_of):
        say(f"recap: released {len(released)} killed run(s), marked failed with their pool slots freed: {released}")

    def ended(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id) if run_id else None
        return run is not None and run.is_finished

    if orphans := RESOURCES["mlflow"].end_orphans(ended):
        say(f"recap: ended {orphans} MLflow run(s) left RUNNING by Dagster runs that ended")
    if (sync := sync_source_partitions(instance)) is not None:
        changed = f"; added {sync.added}" if sync.added else ""
        changed += f"; removed {sync.removed}" if sync.removed else ""
        say(f"recap: source has {len(sync.keys)} shard(s){changed}")
        for name, problem in sync.intake.broken.items():
            say(f"recap: shard {name}.tar skipped: {problem}")
        for name, original in sync.intake.duplicates.items():
            say(f"recap: shard {name}.tar skipped: the same bytes as shard {original}")
    return instance


def run_label(name: str, partitions: list[str]) -> str:
    if not partitions:
        return name
    return f"{name}[{partitions[0]}]" if len(partitions) == 1 else f"{name}[{partitions[0]}...{partitions[-1]}]"


def materialize_runs(
    assets: list,
    only: list[str] | None,
    instance,
    resources: dict,
    keep_going: bool,
    run_config: dict | None = None,
    report: MaterializeReport | None = None,
    after: Callable[[str], bool] | None = None,
) -> int:
    """One run per partition group of each asset, in order, in this process, through the job
    that selects it (recap_dagster/asset_jobs.py), told to `report` (default: on stderr) as each
    asset starts, each run ends (and, live, as a run finishes each shard) and each asset ends;
    `after(name)` runs once an asset's runs succeeded (writing its figures; False: they could
    not be). 1 on a failure."""
    from dagster._core.utils import make_new_run_id

    from recap_dagster.asset_jobs import asset_jobs
    from recap_dagster.console import MaterializeReport, RunSummary
    from recap_dagster.dead_runs import LAUNCHED_BY, LAUNCHER, process_tags
    from recap_dagster.definitions import ASSETS, JOBS

    jobs = asset_jobs(ASSETS, JOBS, resources)
    tags = {LAUNCHED_BY: "cli", **process_tags()}  # a run this process owns (dead_runs.py)
    if launcher := os.environ.get("RECAP_LAUNCHED_BY"):  # "dvc": dvc.yaml's stages set it
        tags[LAUNCHER] = launcher
    if source := os.environ.get("RECAP_SOURCE"):
        tags["recap/source"] = source
    report = report or MaterializeReport(sys.stderr)
    failures = 0
    for asset_def in assets:
        name = asset_def.key.to_user_string()
        groups = run_groups(asset_def, only, instance)
        report.asset_started(name, groups)
        failed = 0
        for partitions in groups:
            label = run_label(name, partitions)
            run_id = make_new_run_id()  # known before the run starts, so its events reach the report live
            instance.add_event_listener(run_id, partial(report.on_event, label))
            start = time.perf_counter()
            result = jobs[asset_def.key].execute_in_process(
                instance=instance,
                asset_selection=[asset_def.key],
                raise_on_error=False,
                run_config=run_config,
                run_id=run_id,
                **partition_arguments(partitions, tags),
            )
            report.run_ended(label, RunSummary.of(result), time.perf_counter() - start)
            failed += not result.success
            if failed and not keep_going:
                break
        ok = not failed and (after is None or after(name))
        report.asset_ended(ok)
        failures += not ok
        if failures and not keep_going:
            return 1
    return 1 if failures else 0


def checked_params():
    """params.yaml, checked: a bad profile, size or source stops here, before any work (None)."""
    from recap_dagster.project import load_params

    try:
        return load_params()
    except ValueError as error:
        print(f"recap: {error}", file=sys.stderr)
        return None


def materialize_command(args: argparse.Namespace) -> int:
    """The assets' runs, told on the console as recap_dagster/console.py shows them; everything
    else the process writes goes to a log file under logs/ (with --verbose: shows live)."""
    configure_environment(args.profile)
    if (params := checked_params()) is None:
        return 2
    from recap_dagster.console import MaterializeReport, console_session
    from recap_dagster.project import project_root

    assets = selected_in_order(args.assets, args.all)  # a name mistyped stops here, before any log
    title = " ".join(["recap materialize", *(["--all"] if args.all else args.assets)])
    with console_session(project_root(), args.verbose, title=title) as session:
        report = MaterializeReport(session.console, session.log_path)
        return materialize_assets(args, params, assets, report)


def materialize_assets(args: argparse.Namespace, params, assets: list, report: MaterializeReport) -> int:
    from components.data.source import SourceError
    from recap_dagster.definitions import RESOURCES
    from recap_dagster.job_budget import budget_run_config

    report.say(f"recap: profile {params.profile!r}, DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
    try:
        instance = prepare_instance(report.say)
    except SourceError as error:
        report.say(f"recap: {error}")
        return 2
    report.header(len(assets))

    def figures(name: str) -> bool:
        return write_figures_of([name], instance, report.say) == 0

    factor = budget_factor(params.profile, report.say) if args.all and not args.fixed_budgets else 1.0
    failures = 0
    for index, asset_def in enumerate(assets):  # one asset at a time: its figures are written once its runs succeed
        name = asset_def.key.to_user_string()
        failures += materialize_runs(
            [asset_def],
            args.partition,
            instance,
            RESOURCES,
            args.keep_going,
            run_config=budget_run_config(name, factor),
            report=report,
            after=figures,
        )
        if failures and not args.keep_going:
            report.summary(not_run=[a.key.to_user_string() for a in assets[index + 1 :]])
            return 1
    report.summary()
    if any(a.key.to_user_string() == "eval_report" for a in assets):
        print_eval_report(report.say)
    return 1 if failures else 0


def print_eval_report(say: Callable[[str], None]) -> None:
    """The evaluation report's table (data/eval_report/report.txt), the main job's last word."""
    from recap_dagster.resources import ProjectStorage

    path = ProjectStorage().eval_report_dir() / "report.txt"
    if path.is_file():
        say("")
        say(f"recap: evaluation ({path.parent.name}/report.txt; recap evaluate --images DIR judges any folder)")
        for line in path.read_text().rstrip().splitlines():
            say(f"  {line}")


def budget_factor(profile: str, say: Callable[[str], None]) -> float:
    """The main job's factor for the training budgets on this machine (recap_dagster/job_budget.py),
    told to `say`; 1 for a profile without a job budget."""
    from components.training.machine_speed import probe_seconds
    from recap_dagster.job_budget import JOB_BUDGETS

    budget = JOB_BUDGETS.get(profile)
    if budget is None:
        return 1.0
    seconds = probe_seconds()
    factor = budget.factor(seconds)
    slowness = budget.slowness(seconds)
    verdict = "budgets as the recipes give them" if factor >= 1.0 else f"every training budget x {factor:.2f}"
    say(
        f"recap: this machine computes at {1 / slowness:.2f}x the speed of the {profile} budgets' reference "
        f"({budget.reference}): {verdict}, to finish within {budget.minutes:g} minutes"
    )
    return factor


def write_figures_of(names: list[str], instance, say: Callable[[str], None] = to_stderr) -> int:
    """The DVC metrics and plots of each named asset that has any (recap_dagster/metrics_files.py),
    from what is on disk; the number of assets whose figures could not be written (told to `say`;
    the files written go to stderr: `recap materialize`'s log)."""
    from recap_dagster.definitions import RESOURCES
    from recap_dagster.metrics_files import latest_run_history, write_figures
    from recap_dagster.project import project_root

    history = latest_run_history(instance, RESOURCES["mlflow"])
    failures = 0
    for name in names:
        try:
            written = write_figures(name, RESOURCES["storage"], project_root(), history)
        except (OSError, ValueError, KeyError) as error:
            say(f"recap: {name}: figures not written: {error}")
            failures += 1
            continue
        if written:
            shown = ", ".join(str(p.relative_to(project_root())) for p in written)
            print(f"recap: {name}: wrote {shown}", file=sys.stderr)
    return failures


def metrics_command(args: argparse.Namespace) -> int:
    """The DVC metrics and plots files from the artifacts already on disk: after materializing
    from the UI, or before `dvc commit` of outputs built without them."""
    configure_environment(None)
    if checked_params() is None:
        return 2
    from dagster import DagsterInstance

    from recap_dagster.metrics_files import FIGURES

    unknown = sorted(set(args.assets) - set(FIGURES))
    if unknown:
        print(f"recap: no figures for {unknown}; assets with figures: {sorted(FIGURES)}", file=sys.stderr)
        return 2
    return 1 if write_figures_of(args.assets or list(FIGURES), DagsterInstance.get()) else 0


def recaption_command(args: argparse.Namespace) -> int:
    """`recaptioned_shards` for every shard of `--source`, its sidecars in `--out` (a folder or an
    object store URL): the asset's engine (in this process, or `--engine ray` on a Ray cluster),
    settings, seeds, restarts and metadata, recorded in the instance like any run."""
    configure_environment(None, args.source)
    if checked_params() is None:
        return 2
    from components.io.store import is_remote
    from components.recaption.ray_pool import RayPoolSettings, RayUnavailable, check_address
    from recap_dagster.resources import ProjectStorage

    storage = ProjectStorage(
        recaptioned_root=args.out
        if is_remote(args.out)
        else str(Path(args.out.removeprefix("file://")).expanduser().resolve()),
        captioner_root=str(Path(args.captioner).expanduser().resolve()) if args.captioner else "",
    )
    engine = f"Ray ({args.ray_address or 'a local cluster'})" if args.engine == "ray" else "this process"
    print(
        f"recap: recaptioning {args.source} into {storage.recaptioned_location()} with the captioner at "
        f"{storage.captioner_dir()} in {engine}; DAGSTER_HOME={os.environ['DAGSTER_HOME']}",
        file=sys.stderr,
    )
    try:  # before any run, in the order a user would fix them: the source, --out, the captioner, Ray
        source = storage.shard_source()
        assert source is not None  # --source is required
        source.check()
        storage.claim_sidecar_dir()
        if not storage.captioner_dir().is_dir():
            raise FileNotFoundError(
                f"no captioner at {storage.captioner_dir()}: pass --captioner, or materialize captioner first"
            )
        pool = RayPoolSettings(address=args.ray_address, actors=args.ray_actors)
        if args.engine == "ray" and pool.address:
            check_address(pool.address, pool.connect_timeout_s)
    except (ValueError, OSError, RayUnavailable) as error:
        print(f"recap: {error}", file=sys.stderr)
        return 2
    from recap_dagster.definitions import RESOURCES, recaptioned_shards  # torch and the assets: after the checks

    instance = prepare_instance()
    config = {
        "force": args.force,
        "progress": not args.no_progress,
        "engine": args.engine,
        "ray_address": args.ray_address,
        "ray_actors": args.ray_actors,
    }
    return materialize_runs(
        [recaptioned_shards],
        args.partition,
        instance,
        {**RESOURCES, "storage": storage},
        keep_going=True,
        run_config={"ops": {"recaptioned_shards": {"config": config}}},
    )


def list_command(args: argparse.Namespace) -> int:
    configure_environment(args.profile)
    from dagster import DagsterInstance

    from recap_dagster.config import sync_source_partitions
    from recap_dagster.definitions import defs

    instance = DagsterInstance.get()
    sync_source_partitions(instance)
    graph = defs.resolve_asset_graph()
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        partitions = (
            node.partitions_def.get_partition_keys(dynamic_partitions_store=instance) if node.partitions_def else []
        )
        parents = sorted(p.to_user_string() for p in node.parent_keys)
        print(f"{key.to_user_string():<24} partitions={len(partitions):<4} deps={parents}")
    return 0


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


def main(argv: list[str] | None = None) -> int:
    from components.io.console import quiet_library_notices
    from recap_dagster.generate_cli import add_generate_parser
    from recap_dagster.provenance_cli import add_provenance_parser

    quiet_library_notices()  # before any command imports Lightning or diffusers
    parser = argparse.ArgumentParser(prog="recap", description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    mat = commands.add_parser("materialize", help="materialize assets through Dagster")
    mat.add_argument("assets", nargs="*", help="asset names (default: none; see --all)")
    mat.add_argument("--all", action="store_true", help="every asset, in dependency order")
    mat.add_argument("-p", "--partition", action="append", help="only this partition (repeatable)")
    mat.add_argument("--profile", help="dataset profile (default: params.yaml's)")
    mat.add_argument("--keep-going", action="store_true", help="go on after a failed run")
    mat.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="Dagster's debug log and every library's messages live, no log file",
    )
    mat.add_argument(
        "--fixed-budgets",
        action="store_true",
        help="with --all: keep the training budgets on a machine slower than the profile's reference",
    )
    mat.set_defaults(handler=materialize_command)
    rec = commands.add_parser("recaption", help="recaption a user's img2dataset output into sidecars")
    rec.add_argument("--source", required=True, help="folder or fsspec URL of img2dataset shards (read only)")
    rec.add_argument(
        "--out", required=True, help="folder or s3:// gs:// URL for the sidecars (NNNNN.parquet per shard)"
    )
    rec.add_argument("--captioner", help="captioner folder (default: the project's models/captioner)")
    rec.add_argument("-p", "--partition", action="append", help="only this shard, e.g. 00003 (repeatable)")
    rec.add_argument("--force", action="store_true", help="redo shards whose sidecars are current")
    rec.add_argument("--no-progress", action="store_true", help="no progress bar per shard")
    rec.add_argument("--engine", choices=["local", "ray"], default="local", help="this process, or Ray actors")
    rec.add_argument(
        "--ray-address",
        default="",
        help="with --engine ray: auto, host:6379 or ray://host:10001 (default: a local cluster)",
    )
    rec.add_argument(
        "--ray-actors", type=int, default=0, help="with --engine ray: actors (default: one per GPU, else per CPU)"
    )
    rec.set_defaults(handler=recaption_command)
    add_generate_parser(commands)
    add_provenance_parser(commands)
    ups = commands.add_parser("upsample", help="rewrite a short prompt into detailed captions, guarded by intent")
    ups.add_argument("prompt", help='the prompt; "" is returned as it is')
    ups.add_argument("-n", type=int, default=1, help="rewrites to sample (default 1)")
    ups.add_argument("--json", action="store_true", help="one JSON object on stdout instead of lines")
    ups.add_argument("--seed", type=int, help="seed the rewriter's sampling (default: params.yaml's, else unseeded)")
    add_rewriter_flags(ups)
    ups.set_defaults(handler=upsample_command)
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
    met = commands.add_parser("metrics", help="write DVC's metrics and plots files from the artifacts on disk")
    met.add_argument("assets", nargs="*", help="asset names (default: every asset that has figures)")
    met.set_defaults(handler=metrics_command)
    lst = commands.add_parser("list", help="assets with their partitions and dependencies")
    lst.add_argument("--profile")
    lst.set_defaults(handler=list_command)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
