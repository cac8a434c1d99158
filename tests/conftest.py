"""Every test runs against a tiny project in a temporary folder, never the user's data/.

RECAP_ROOT is set before anything imports recap_dagster (its partitions are made from
params.yaml when the definitions load), so the code location under test has 2 web shards
of 24 images and a 40-image curated set, and MLflow and Dagster write into that folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.tiny_params import tiny_params

REPO = Path(__file__).resolve().parent.parent
_TINY_ROOT = Path(tempfile.mkdtemp(prefix="recap-tests-"))
(_TINY_ROOT / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
(_TINY_ROOT / ".dagster_home").mkdir()
os.environ["RECAP_ROOT"] = str(_TINY_ROOT)
os.environ["DAGSTER_HOME"] = str(_TINY_ROOT / ".dagster_home")
os.environ.pop("RECAP_PROFILE", None)
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ["HF_HUB_OFFLINE"] = "1"

# Under pytest-xdist (scripts/test.sh), each worker gets its share of the cores for torch's
# threads, and so do the processes it starts: N workers of N threads each on N cores spin and
# wait on one another. Set before anything imports torch.
if (workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))) > 1 and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))


# The longest test files (seconds in one of two xdist workers on a 2-core AMD EPYC, commit
# 317f794: the known answer ~385, a user's source end to end ~240, the GPU study script ~75, the
# DVC graph ~370). They start first, in this order, so the two workers take them in turns
# (~460 s and ~610 s) and the short files fill in around them, instead of one long file
# starting last and running alone. scripts/test.sh passes --no-loadscope-reorder, without
# which xdist would reorder the files by their number of tests.
RUN_FIRST = (
    "tests/generator/test_known_answer.py",
    "tests/test_user_source.py",
    "tests/generator/test_gpu_study_script.py",
    "tests/test_dvc_graph.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.relative_to(REPO).as_posix()
        return RUN_FIRST.index(path) if path in RUN_FIRST else len(RUN_FIRST)

    items.sort(key=rank)  # stable: every file keeps its own order


@pytest.fixture(scope="session")
def tiny_root() -> Path:
    return _TINY_ROOT


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_TINY_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def captioner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny saved CoCa whose rows end at varied steps (tests/captioner/saved_captioner.py)."""
    from tests.captioner.saved_captioner import make_captioner

    return make_captioner(tmp_path_factory.mktemp("captioner") / "captioner")


@pytest.fixture
def captioner(captioner_dir: Path):
    """The captioner at `captioner_dir`, loaded; its tokenizer beside it."""
    from components.captioner.loading import load_captioner

    loaded = load_captioner(captioner_dir)
    return loaded, loaded.tokenizer
