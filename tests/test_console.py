"""What `recap materialize` prints (recap_dagster/console.py): the printing, not the timing.

The reporter is fed runs by hand; then `recap materialize` runs for real on a tiny project of
its own (two datasets, the judge's two training steps, and an asset that fails), and its
console is read the way a person would: a start and an end line per asset with its figures, no
Dagster debug line, no warning, the failure's message and where its traceback is, and a last
line naming the log file, which holds what the console left out.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from recap_dagster.console import MaterializeReport, RunSummary, console_session, headline, new_log_path
from tests.tiny_params import tiny_params

REPO = Path(__file__).resolve().parent.parent


def test_headlines_add_up_partitions_and_keep_per_partition_figures_apart() -> None:
    shards = [("00000", {"samples": 24, "skipped": 0}), ("00001", {"samples": 24, "skipped": 1})]
    assert headline("web_shards", shards) == "images 48, unreadable 1"
    recaptioned = [
        ("00000", {"rows": 100, "error": 1, "images_per_second": 10.0, "skipped_as_current": False}),
        ("00001", {"rows": 300, "error": 0, "images_per_second": 30.0, "skipped_as_current": False}),
        ("00002", {"rows": 50, "error": 0, "images_per_second": 0.0, "skipped_as_current": True}),
    ]
    # img/s weighted by rows, the shard skipped as current left out of it
    assert headline("recaptioned_shards", recaptioned) == "images 450, errors 1, img/s 25.0, already current 1"
    mixes = [("paper", {"steps": 20, "eval/short/all": 0.25, "eval/long/all": 0.5}), ("oracle", {"steps": 21})]
    assert headline("generator", mixes) == "paper: steps 20, short 0.250, long 0.500; oracle: steps 21"
    assert headline("vae", [(None, {"steps": 900, "psnr_db": 31.24, "objects_kept": 0.97})]) == (
        "steps 900, PSNR 31.2 dB, objects kept 0.970"
    )
    skipped = {"skipped": "the recipe has no pretraining stage (measured to hurt, docs/results.md)"}
    assert headline("captioner_pretrained", [(None, skipped)]) == "skipped: the recipe has no pretraining stage"
    assert headline("an_asset_with_no_headline", [(None, {"x": 1})]) == ""


def test_the_report_tells_each_asset_once_its_failure_and_the_log(tmp_path: Path) -> None:
    out, log = io.StringIO(), tmp_path / "logs" / "materialize-1.log"
    report = MaterializeReport(out, log, clock=lambda: "12:00:00")
    report.asset_started("web_shards", [["00000"], ["00001"]])
    for key in ("00000", "00001"):
        run = RunSummary(f"run-{key}", True, [(key, {"samples": 24})], [], [])
        report.run_ended(f"web_shards[{key}]", run, 1.5)
    report.asset_ended(True)
    report.asset_started("training_mix", [[]])
    error = ("FileNotFoundError: no filtered sidecars in data/filtered; materialize filtered_captions first", "trace")
    report.run_ended("training_mix", RunSummary("run-mix", False, [], [], [error, error]), 0.5)
    report.asset_ended(False)
    report.summary(not_run=["generator"])
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        "12:00:00 web_shards             started          2 partitions",
        "12:00:00   web_shards[00000]    ok         1.5s  images 24",
        "12:00:00   web_shards[00001]    ok         1.5s  images 24",
        "12:00:00 web_shards             ok         0.0s  images 48",
    ]
    assert lines[4:8] == [
        "12:00:00 training_mix           started",
        "12:00:00 training_mix           FAILED     0.0s",
        f"         training_mix: {error[0]}",  # once, though its step and its run both failed
        f"         the traceback: {log} and run run-mix in the Dagster UI",
    ]
    assert "  training_mix           FAILED     0.0s  FileNotFoundError: no filtered sidecars in data/filtered" in lines
    assert "  generator              not run" in lines
    assert re.fullmatch(rf"recap: 1 of 3 assets FAILED \(training_mix\) in \S+; the full log: {log}", lines[-1])


def test_the_session_sends_file_descriptors_to_the_log_and_gives_them_back(tmp_path: Path) -> None:
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from recap_dagster.console import console_session\n"
        "from components.io.console import console\n"
        "with console_session(Path(sys.argv[1]), verbose=False, title='t') as session:\n"
        "    print('to stdout'); print('to stderr', file=sys.stderr); os.write(2, b'from C\\n')\n"
        "    session.console.write('to the person\\n'); assert console() is session.console\n"
        "print('after', file=sys.stderr)\n"
    )
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "to the person\nafter\n"
    (log,) = (tmp_path / "logs").iterdir()
    assert log.read_text().splitlines()[1:] == ["to stdout", "to stderr", "from C"]


def test_old_logs_are_pruned(tmp_path: Path) -> None:
    for second in range(25):
        new_log_path(tmp_path, now=1_800_000_000 + second)
    assert len(list(tmp_path.iterdir())) == 20
    assert new_log_path(tmp_path, now=1_800_000_024).name.endswith("-1.log")  # that second's name is taken


def test_verbose_keeps_stderr_and_writes_no_log(tmp_path: Path) -> None:
    with console_session(tmp_path, verbose=True) as session:
        assert session.log_path is None
    assert not (tmp_path / "logs").exists()


@pytest.mark.timeout(600)
def test_recap_materialize_prints_a_readable_console(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    (tmp_path / ".dagster_home").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RECAP_PROFILE", "MLFLOW_TRACKING_URI", "RECAP_SOURCE")}
    env.update(RECAP_ROOT=str(tmp_path), DAGSTER_HOME=str(tmp_path / ".dagster_home"), HF_HUB_OFFLINE="1")
    assets = ["curated_captions", "web_shards", "alignment_model", "training_mix"]  # training_mix: nothing filtered
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "recap"), "materialize", *assets, "--keep-going"],
        capture_output=True,
        text=True,
        timeout=540,
        env=env,
        cwd=tmp_path,
    )
    console = done.stderr
    lines = console.splitlines()
    assert done.returncode == 1, console
    assert done.stdout == ""
    # Nothing of Dagster's debug log, no library's chatter, no warning.
    assert " - DEBUG - " not in console and " - INFO - " not in console, console
    assert not [line for line in lines if re.search("warn", line, re.IGNORECASE)], console
    for chatter in ("Epoch", "weights_only", "litlogger", "torchvision", "accelerate", "GPU available", "mlflow"):
        assert chatter not in console, (chatter, console)
    # A start and an end line per asset, the end with its figures.
    for name in assets:
        assert len([line for line in lines if re.match(rf"\d\d:\d\d:\d\d {name} +started", line)]) == 1, console
        ends = [line for line in lines if re.match(rf"\d\d:\d\d:\d\d {name} +(ok|FAILED) ", line)]
        assert len(ends) == 1, console
    end = {
        name: next(line for line in lines if re.match(rf"\d\d:\d\d:\d\d {name} +(ok|FAILED) ", line)) for name in assets
    }
    assert end["curated_captions"].split("ok", 1)[1].endswith("images 40")
    assert end["web_shards"].endswith("images 48, unreadable 0")
    assert re.search(r"ok .*steps 2, threshold \d\.\d{3}, held-out pass \d\.\d{3}$", end["alignment_model"])
    assert "FAILED" in end["training_mix"]
    # The judge's training bar, by steps against its budget.
    assert any(line.startswith("training [") and "2/2 steps" in line for line in lines), console
    # The failure: its message, and where its traceback is.
    assert any("training_mix: FileNotFoundError: no filtered sidecars" in line for line in lines), console
    assert any(line.strip().startswith("the traceback: logs/materialize-") for line in lines), console
    # The summary, and a last line naming the log file.
    assert "recap: summary" in lines
    match = re.fullmatch(r"recap: 1 of 4 assets FAILED \(training_mix\) in \S+; the full log: (\S+)", lines[-1])
    assert match, lines[-1]
    log = (tmp_path / match.group(1)).read_text()
    assert log.count(" - DEBUG - ") > 20  # Dagster's debug log
    assert "GPU available" in log  # Lightning's notices
    assert "recap: training_mix failed, run " in log and "Stack Trace" in log  # the traceback
