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

if TYPE_CHECKING:
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


def main(argv: list[str] | None = None) -> int:
    from components.io.console import quiet_library_notices
    from recap_dagster.evaluate_cli import add_evaluate_parser
    from recap_dagster.generate_cli import add_generate_parser
    from recap_dagster.provenance_cli import add_provenance_parser
    from recap_dagster.upsample_cli import add_upsample_parser

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
    add_upsample_parser(commands)
    add_evaluate_parser(commands)
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
