"""The automation watched live: a user's inbox, the daemon, and what follows, on a real clock.

The tests evaluate the inbox sensor and the automation conditions with Dagster's test
utilities; this runs them as a user meets them. A project of its own (the tests' tiny recipes:
two optimiser steps a stage, so minutes, not hours) whose `dataset.source` is an inbox folder
holding one of the world's shards is materialized once with `recap materialize --all`; then
`dg dev` (webserver and daemon, as scripts/ui.sh starts them) runs on it while this script
plays the user:

1. drops a shard cut in half (a writer that died): it must wait, then be reported broken once;
2. writes it whole: the sensor must take it as a partition and launch one run recording,
   recaptioning and filtering it, and the automation sensor must then launch the mixes and
   the generators that exist (their inputs' data changed), and retrain no model;
3. drops a byte-for-byte copy of a taken shard under a new name: reported, never added;
4. edits a comment in the mixes' code (`--edit`, restored on exit): after a reload of the
   code location the asset graph marks `training_mix` and what follows stale, and the
   automation sensor reruns them.

It polls the instance and writes OUT/timeline.md: every tick of the two sensors that said
something, every run (who launched it, its assets and partition, how it ended, how long), each
step's verdict, and screenshots of the sensor's ticks, the runs and the stale graph under
OUT/screenshots (or --screenshots). Exit status 1 if a step's expectation failed.

    python experiments/live_automation.py --world data --out work/live_automation
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from contextlib import ExitStack
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' tiny recipes and browser helpers

from dagster import DagsterInstance, DagsterRunStatus  # noqa: E402
from dagster._core.definitions.instigation_logger import get_instigation_log_records  # noqa: E402
from dagster._core.scheduler.instigation import InstigatorType  # noqa: E402

from components.data.source import parse_source  # noqa: E402
from tests.browser.processes import free_port, running, wait_until  # noqa: E402
from tests.browser.uis import code_location_loaded, graphql  # noqa: E402
from tests.browser.webdriver import Browser, find_binaries, headless_chromium  # noqa: E402
from tests.tiny_params import tiny_params  # noqa: E402

BIN = Path(sys.executable).parent
INBOX_SENSOR = "shard_inbox_sensor"
AUTOMATION_SENSOR = "recap_automation"
MODELS = {"captioner_pretrained", "captioner", "alignment_model", "vae"}  # a new shard retrains none
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
RELOAD = """mutation { reloadRepositoryLocation(repositoryLocationName: "recap") { __typename } }"""


class Watch:
    """The project's instance, polled: ticks and runs not yet written go to the timeline."""

    def __init__(self, instance: DagsterInstance, timeline: Path) -> None:
        self.instance, self.timeline, self.started = instance, timeline, time.time()
        self.ticks_seen: set[tuple[str, float]] = set()
        self.runs_seen: set[str] = set()
        self.failures: list[str] = []
        timeline.write_text("# The automation watched live (experiments/live_automation.py)\n\n")

    def write(self, line: str) -> None:
        stamp = f"{time.time() - self.started:6.0f} s"
        with self.timeline.open("a") as out:
            out.write(f"- `{stamp}` {line}\n")
        print(f"[{stamp}] {line}", flush=True)

    def step(self, title: str) -> None:
        with self.timeline.open("a") as out:
            out.write(f"\n## {title}\n\n")
        print(f"== {title}", flush=True)

    def verdict(self, ok: bool, what: str) -> bool:
        self.write(f"**{'PASS' if ok else 'FAIL'}**: {what}")
        if not ok:
            self.failures.append(what)
        return ok

    def ticks(self, sensor: str) -> list:
        states = self.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        state = next((s for s in states if s.instigator_name == sensor), None)
        if state is None:
            return []
        return list(reversed(self.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=200)))

    def tick_log(self, tick) -> list[str]:
        if not tick.log_key:
            return []
        records = get_instigation_log_records(self.instance, tick.log_key)
        return [f"{r.get('levelname', '?')}: {r.get('msg', '')}" for r in records]

    def poll(self) -> None:
        for sensor in (INBOX_SENSOR, AUTOMATION_SENSOR):
            for tick in self.ticks(sensor):
                key = (sensor, tick.timestamp)
                if key in self.ticks_seen or tick.status.value == "STARTED":
                    continue
                self.ticks_seen.add(key)
                said = tick.skip_reason or ""
                if sensor == AUTOMATION_SENSOR and not tick.run_ids:
                    continue  # the automation sensor ticks every 30 s; only what it launched is news
                log = "; ".join(self.tick_log(tick))
                added = [
                    name for result in tick.dynamic_partitions_request_results for name in result.added_partitions or []
                ]
                parts = [f"tick of `{sensor}`: {tick.status.value}"]
                parts += [f"added {added}"] if added else []
                parts += [f"{len(tick.run_ids)} run(s) requested"] if tick.run_ids else []
                parts += [f"said: {said}"] if said else []
                parts += [f"log: {log}"] if log else []
                self.write(", ".join(parts))
        for record in reversed(self.instance.get_run_records(limit=200)):
            run = record.dagster_run
            if run.run_id in self.runs_seen or run.status not in FINISHED:
                continue
            self.runs_seen.add(run.run_id)
            seconds = (record.end_time or 0) - (record.start_time or record.create_timestamp.timestamp())
            self.write(f"run {described(run)}, {seconds:.0f} s")

    def logged(self, text: str) -> int:
        """How many lines of the inbox sensor's tick logs hold `text`."""
        return sum(text in line for tick in self.ticks(INBOX_SENSOR) for line in self.tick_log(tick))

    def assets_run_by(self, sensor: str, skip: Collection[str] = ()) -> set[str]:
        """The assets of `sensor`'s successful runs, runs whose ids are in `skip` aside."""
        return {
            key.to_user_string()
            for run in self.runs_by(sensor)
            if run.run_id not in skip and run.status == DagsterRunStatus.SUCCESS
            for key in run.asset_selection or []
        }

    def runs_by(self, sensor: str) -> list:
        return [r for r in self.instance.get_runs() if r.tags.get("dagster/sensor_name") == sensor]

    def wait(self, probe: Callable[[], object], what: str, timeout: float) -> object:
        """Polls (writing what happens) until `probe` is truthy or `timeout` s; its last value."""
        deadline = time.time() + timeout
        while True:
            self.poll()
            value = probe()
            if value or time.time() > deadline:
                if not value:
                    self.write(f"gave up after {timeout:.0f} s waiting for {what}")
                return value
            time.sleep(5)


def described(run) -> str:
    """`run` in a line: its id, status, assets, partition and what launched it."""
    by = run.tags.get("dagster/sensor_name") or run.tags.get("recap/launched_by") or "the CLI"
    partition = run.tags.get("dagster/partition")
    assets = sorted(key.to_user_string() for key in run.asset_selection or [])
    return f"`{run.run_id[:8]}` {run.status.value}: {assets}{f' [{partition}]' if partition else ''}, launched by {by}"


def write_project(root: Path, inbox: Path, curated: Path) -> None:
    home = root / ".dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    params = tiny_params(dataset={"source": str(inbox), "curated": str(curated)})
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def drop(shards: Path, name: str, inbox: Path, as_name: str | None = None, cut: bool = False) -> None:
    """Shard `name` of `shards` into the inbox (as `as_name`): its index, then its tar (cut in
    half when `cut`: a writer that died), as a writer would leave them."""
    target = as_name or name
    shutil.copy(shards / f"{name}.parquet", inbox / f"{target}.parquet")
    data = (shards / f"{name}.tar").read_bytes()
    (inbox / f"{target}.tar").write_bytes(data[: len(data) // 2] if cut else data)


def screenshot(browser: Browser | None, url: str, texts: list[str], path: Path, watch: Watch) -> None:
    """`url` once it shows every one of `texts`, saved at `path` (nothing without a browser)."""
    if browser is None:
        return
    browser.goto(url)
    found = wait_until(
        lambda: browser.script("return arguments[0].every(t => document.body.innerText.includes(t));", texts),
        timeout=60,
    )
    time.sleep(2)  # the page's last requests settle
    browser.screenshot(path)
    watch.write(f"screenshot {path.name}" + ("" if found else f" (without {texts}: the page did not show them)"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, default=Path("data"), help="a data root with web_shards/, curated/")
    parser.add_argument("--out", type=Path, default=Path("work/live_automation"))
    parser.add_argument("--screenshots", type=Path, help="where the screenshots go (default: OUT/screenshots)")
    parser.add_argument("--edit", type=Path, default=Path("components/curation/mix.py"), help="a file to edit")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    world = args.world.resolve()
    shards = world / "web_shards"
    if not (shards / "00000.tar").is_file() or not (shards / "00001.tar").is_file():
        parser.error(f"{shards} needs shards 00000 and 00001: materialize the world first (bash scripts/main.sh)")
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    root, inbox = out / "project", out / "inbox"
    inbox.mkdir(parents=True)
    pictures = (args.screenshots or out / "screenshots").resolve()
    write_project(root, inbox, world / "curated")
    drop(shards, "00000", inbox)
    source = parse_source(str(inbox), root)
    assert source is not None
    partitions_name = f"web_shards_{source.slug}"  # as recap_dagster/config.py names them
    env = {
        **os.environ,
        "RECAP_ROOT": str(root),
        "DAGSTER_HOME": str(root / ".dagster_home"),
        "RECAP_INBOX_SETTLE_SECONDS": "5",
        "HF_HUB_OFFLINE": "1",
        "VIRTUAL_ENV": str(BIN.parent),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    logs = out / "logs"
    logs.mkdir()
    os.environ.update({k: env[k] for k in ("RECAP_ROOT", "DAGSTER_HOME")})
    edited = (REPO / args.edit).resolve()
    original = edited.read_bytes()
    with ExitStack() as stack:
        instance = stack.enter_context(DagsterInstance.from_config(env["DAGSTER_HOME"]))
        watch = Watch(instance, out / "timeline.md")
        watch.step("A project whose source is an inbox holding one shard, materialized by the CLI")
        started = time.time()
        with open(logs / "materialize.log", "wb") as log:
            done = subprocess.run(
                [str(BIN / "recap"), "materialize", "--all"], cwd=root, env=env, stdout=log, stderr=log
            )
        watch.write(f"`recap materialize --all`: exit {done.returncode} in {time.time() - started:.0f} s")
        if done.returncode != 0:
            watch.verdict(False, "the first materialization (see logs/materialize.log)")
            return 1
        subprocess.run([str(BIN / "python"), "-m", "recap_dagster.pools"], cwd=root, env=env, check=True)
        watch.poll()

        port = args.port or free_port()
        base = f"http://127.0.0.1:{port}"
        dev = stack.enter_context(
            running(
                "dg dev",
                [str(BIN / "dg"), "dev", "--host", "127.0.0.1", "--port", str(port)],
                f"{base}/server_info",
                logs / "dg-dev.log",
                env,
                cwd=REPO,
            )
        )
        dev.wait_ready(timeout=300)
        wait_until(lambda: code_location_loaded(base), timeout=300)
        graphql(base, "mutation { setNuxSeen }")
        found = find_binaries()
        browser = (
            None
            if isinstance(found, str)
            else stack.enter_context(headless_chromium(*found, logs / "chromedriver.log"))
        )
        watch.write(f"`dg dev` up at {base}" + (f"; no screenshots: {found}" if isinstance(found, str) else ""))
        stack.callback(lambda: edited.write_bytes(original))

        watch.step("1. A shard cut in half (a writer that died)")
        ticks_before = len(watch.ticks(INBOX_SENSOR))
        watch.wait(lambda: len(watch.ticks(INBOX_SENSOR)) > ticks_before, "the sensor's first tick", 180)
        drop(shards, "00001", inbox, cut=True)
        watch.write("dropped 00001.parquet and the first half of 00001.tar")
        broken = watch.wait(lambda: watch.logged("00001.tar skipped until it changes"), "the broken report", 300)
        watch.verdict(bool(broken), "the cut shard is reported broken in the sensor's log")
        watch.wait(lambda: len(watch.ticks(INBOX_SENSOR)) > ticks_before + 3, "one more tick", 120)
        reports = watch.logged("00001.tar skipped")
        partitions = instance.get_dynamic_partitions(partitions_name)
        watch.verdict(
            reports == 1 and "00001" not in partitions, f"reported once ({reports}), not added ({partitions})"
        )

        watch.step("2. The shard written whole: taken, recaptioned and filtered, then what follows")
        drop(shards, "00001", inbox)
        watch.write("wrote 00001.tar whole")
        taken = watch.wait(lambda: "00001" in instance.get_dynamic_partitions(partitions_name), "00001 taken", 300)
        watch.verdict(bool(taken), "the whole shard becomes partition 00001")
        inbox_run = watch.wait(
            lambda: [r for r in watch.runs_by(INBOX_SENSOR) if r.status in FINISHED], "the sensor's run to end", 600
        )
        watch.verdict(
            bool(inbox_run) and inbox_run[0].status == DagsterRunStatus.SUCCESS,
            "the sensor's run (web_shards, recaptioned_shards, filtered_captions [00001]) succeeds",
        )
        followed = {"training_mix", "generator"}
        watch.wait(lambda: followed <= watch.assets_run_by(AUTOMATION_SENSOR), "the automation sensor's runs", 900)
        ran = watch.assets_run_by(AUTOMATION_SENSOR)
        watch.verdict(followed <= ran and not ran & MODELS, f"automation ran {sorted(ran)}, none of {sorted(MODELS)}")
        screenshot(
            browser,
            f"{base}/locations/recap/sensors/{INBOX_SENSOR}",
            ["00001"],
            pictures / "dagster_inbox_sensor.png",
            watch,
        )
        screenshot(browser, f"{base}/runs", ["recap_automation"], pictures / "dagster_runs_automation.png", watch)

        watch.step("3. A copy of a taken shard under a new name")
        drop(shards, "00000", inbox, as_name="00007")
        watch.write("dropped a copy of 00000 as 00007")
        copy = watch.wait(lambda: watch.logged("00007.tar skipped: the same bytes as shard 00000"), "the copy", 300)
        watch.verdict(
            bool(copy) and "00007" not in instance.get_dynamic_partitions(partitions_name),
            "the copy is reported and not added",
        )

        watch.step(f"4. A code edit: a comment appended to {args.edit}")
        runs_before = {r.run_id for r in watch.runs_by(AUTOMATION_SENSOR)}
        edited.write_bytes(original + b"# an edit, watched live (experiments/live_automation.py)\n")
        graphql(base, RELOAD)
        wait_until(lambda: code_location_loaded(base), timeout=300)
        watch.write("edited and reloaded the code location")
        screenshot(
            browser,
            f"{base}/locations/recap/asset-groups/curation",
            ["training_mix", "Code version changed"],
            pictures / "dagster_unsynced_graph.png",
            watch,
        )
        rerun = watch.wait(
            lambda: followed <= watch.assets_run_by(AUTOMATION_SENSOR, skip=runs_before),
            "the edited stage and what follows to rerun",
            900,
        )
        watch.verdict(bool(rerun), "automation reran training_mix and the generators after the edit")
        watch.poll()
        watch.step("Every run, as the instance has them at the end")
        for record in reversed(instance.get_run_records(limit=200)):
            watch.write(described(record.dagster_run))
    print("\n".join(["failed:", *watch.failures]) if watch.failures else "every step passed", flush=True)
    return 1 if watch.failures else 0


if __name__ == "__main__":
    sys.exit(main())
