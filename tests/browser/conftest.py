"""The UIs as a newcomer sees them: a tiny project with two cheap assets materialized, the
Dagster webserver and the MLflow server on it (loopback, free ports), and headless Chromium.

Everything is module-scoped: one materialization, one pair of servers and one browser serve
every test of the module (one to two minutes in all, most of it the webserver's code server
importing the definitions). Without Chromium every test skips, naming why (scripts/setup.sh's
note: no root, apt-get failed, ...), before any of that work.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from recap_dagster.definitions import RESOURCES
from tests.browser.processes import free_port, running, wait_until
from tests.browser.uis import MATERIALIZED, UiProject, Uis, code_location_loaded
from tests.browser.webdriver import REPO, Browser, find_binaries, headless_chromium

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    found = find_binaries()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture(scope="module")
def ui_project(chromium, tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> UiProject:
    """The tiny params (tests/conftest.py) in a project of its own, with its own DAGSTER_HOME
    (the project's deploy/dagster.yaml, as scripts/setup.sh makes it) and MLflow store, and
    MATERIALIZED done there, in this process, where the definitions are already imported.
    Asks for `chromium` first, so that without it the tests skip before this work."""
    root = tmp_path_factory.mktemp("ui-project")
    logs = tmp_path_factory.mktemp("ui-logs")
    shutil.copy(tiny_root / "params.yaml", root / "params.yaml")
    home = root / ".dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "RECAP_ROOT": str(root), "DAGSTER_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with pytest.MonkeyPatch.context() as patch, DagsterInstance.from_config(str(home)) as instance:
        for name in ("RECAP_ROOT", "DAGSTER_HOME"):  # the assets find the project, MLflow its store
            patch.setenv(name, env[name])
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        for asset, partition in MATERIALIZED:
            result = materialize([asset], resources=RESOURCES, partition_key=partition, instance=instance)
            assert result.success, f"{asset.key.to_user_string()} [{partition}] failed"
    return UiProject(root, env, logs)


@pytest.fixture(scope="module")
def uis(ui_project: UiProject) -> Iterator[Uis]:
    """The Dagster webserver (the code location of pyproject.toml's [tool.dagster], as the UI
    scripts serve it; no daemon: nothing is launched from the UI here) and the MLflow server on
    the project's store, started side by side, running until the module's tests end."""
    root, logs, env = ui_project.root, ui_project.logs, ui_project.env
    dagster_port, mlflow_port = free_port(), free_port()
    dagster, mlflow = f"http://127.0.0.1:{dagster_port}", f"http://127.0.0.1:{mlflow_port}"
    store = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    artifacts = (root / "mlflow" / "artifacts").as_uri()
    with ExitStack() as stack:
        webserver = stack.enter_context(
            running(
                "dagster-webserver",
                [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(dagster_port)],
                f"{dagster}/server_info",  # answers once the code location's server is up
                logs / "dagster-webserver.log",
                env,
                cwd=REPO,
            )
        )
        tracking = stack.enter_context(
            running(
                "mlflow server",
                [
                    str(BIN / "mlflow"),
                    "server",
                    "--backend-store-uri",
                    store,
                    "--default-artifact-root",
                    artifacts,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mlflow_port),
                    "--workers",
                    "1",
                ],
                f"{mlflow}/health",
                logs / "mlflow-server.log",
                {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no job runners: the UI needs none
                cwd=root,
            )
        )
        webserver.wait_ready(timeout=300)  # it imports the definitions (torch, lightning): slow on a busy machine
        tracking.wait_ready(timeout=120)
        assert wait_until(lambda: code_location_loaded(dagster), timeout=60), "the code location did not load"
        yield Uis(dagster, mlflow, ui_project)


@pytest.fixture(scope="module")
def browser(chromium: tuple[str, str], uis: Uis) -> Iterator[Browser]:
    with headless_chromium(*chromium, uis.project.logs / "chromedriver.log") as page:
        yield page
