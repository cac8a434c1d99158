"""The README's MLflow comparison: the child runs of a project's newest `eval_report` run (one
per generator, the same metric names) in MLflow's compare view, differences only, saved as
docs/screenshots/mlflow_compare_generators.png. Starts an MLflow server on the project's store
and a headless Chromium (the browser tests' helpers; scripts/setup.sh installs both).

    python experiments/screenshot_generator_comparison.py [--root PROJECT] [--out PNG]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.parse
from pathlib import Path

from mlflow import MlflowClient

from tests.browser.processes import free_port, running
from tests.browser.test_uis import SCROLL_TO, SHOW_DIFFERENCES
from tests.browser.webdriver import find_binaries, headless_chromium

BIN = Path(sys.executable).parent
# MLflow 3.17 opens an assistant panel over the right third of the page: closed for the picture.
CLOSE_ASSISTANT = """
const panel = [...document.querySelectorAll('div')].find(d => (d.innerText || '').startsWith('MLflow Assistant'));
const buttons = panel ? [...panel.querySelectorAll('button')] : [];
const close = buttons.find(b => /close/i.test(b.getAttribute('aria-label') || ''));
if (close) close.click();
return !!close;
"""


def eval_children(store: str) -> tuple[str, list[str]]:
    """(experiment id, the child run ids) of the newest eval_report run in `store`."""
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("recap")
    if experiment is None:
        raise SystemExit(f"no `recap` experiment in {store}")
    reports = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`dagster.asset_key` = 'eval_report'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not reports:
        raise SystemExit(f"no eval_report run in {store}: materialize eval_report first")
    parent = reports[0].info.run_id
    children = client.search_runs([experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    return experiment.experiment_id, [run.info.run_id for run in children]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="the project whose mlflow/ store to show")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots/mlflow_compare_generators.png"))
    args = parser.parse_args()
    root = args.root.resolve()
    store = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    experiment, runs = eval_children(store)
    binaries = find_binaries()
    if isinstance(binaries, str):
        raise SystemExit(binaries)
    logs = Path(tempfile.mkdtemp(prefix="recap-screenshot-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        store,
        "--default-artifact-root",
        (root / "mlflow" / "artifacts").as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with running("mlflow server", command, f"{base}/health", logs / "mlflow.log", env, cwd=root) as server:
        server.wait_ready(timeout=120)
        with headless_chromium(*binaries, logs / "chromedriver.log") as page:
            query = urllib.parse.urlencode({"runs": json.dumps(runs), "experiments": json.dumps([experiment])})
            page.goto(f"{base}/#/compare-runs?{query}")
            page.wait_for("return document.body.innerText.includes('Comparing');", "the comparison")
            page.wait_for(SHOW_DIFFERENCES, "the comparison's Show diff only switches")
            page.script(CLOSE_ASSISTANT)
            page.script(SCROLL_TO, "Parameters")
            page.screenshot(args.out)
    print(f"{len(runs)} generators compared -> {args.out}")


if __name__ == "__main__":
    main()
