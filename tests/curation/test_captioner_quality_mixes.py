"""experiments/captioner_quality_mixes.py on a tiny project: three captioners kept along one
tiny run each recaption the web shards, are filtered and mixed 95/5 into
data/mix/captioner_<label>.parquet with their figures; a rerun recaptions nothing; captioners
whose held-out CIDEr-D does not rise are refused, by name, before any recaptioning."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pandas as pd
import pytest
import torch

from components.curation.mix_file import MIX_KEY
from components.data.build_world import build_curated_shard, build_web_shard
from components.data.profiles import resolve_profile
from components.data.shard_reader import read_shard
from components.judge.checkpoint import save_judge
from components.judge.config import JudgeConfig
from components.judge.model import AlignmentJudge
from components.recaption.sidecar import read_table_info
from components.text.tokenizer import CaptionTokenizer
from components.world import WorldConfig
from tests.captioner.kept_training import train_keeping

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
PROFILE = resolve_profile(
    "quick",
    {"web_shards": 2, "web_shard_size": 12, "curated_train": 12, "curated_heldout": 4, "curated_shard_size": 16},
)
LABELS = ("weak", "medium", "strong")


@pytest.fixture(scope="module")
def script(pytest_module_monkeypatch) -> dict:
    pytest_module_monkeypatch.syspath_prepend(str(EXPERIMENTS))  # its sibling filter_on_real_output.py
    return runpy.run_path(str(EXPERIMENTS / "captioner_quality_mixes.py"), run_name="captioner_quality_mixes")


@pytest.fixture(scope="module")
def pytest_module_monkeypatch():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """A materialized tiny project (two web shards of 12, a curated shard, an untrained tiny
    judge at threshold 0.5) and three captioners: one tiny run kept at steps 2, 4 and 6."""
    root = tmp_path_factory.mktemp("project")
    world = WorldConfig()
    for index in range(2):
        build_web_shard(root / "data" / "web_shards", index, profile=PROFILE, world=world, seed=0)
    curated = build_curated_shard(root / "data" / "curated", 0, profile=PROFILE, world=world, seed=0)
    torch.manual_seed(0)
    tokenizer = CaptionTokenizer.train(["a red circle on white.", "a blue square on black."], vocab_size=300)
    judge = AlignmentJudge(
        JudgeConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_id)
    )
    save_judge(
        root / "models" / "alignment", judge, tokenizer, {"score_kind": "match", "threshold": 0.5}, overwrite=False
    )
    train_keeping([curated.tar_path], root / "chain")
    kept = {label: root / "chain" / "kept" / f"step_{step:06d}" for label, step in zip(LABELS, (2, 4, 6), strict=True)}
    return root, kept


def run(script: dict, root: Path, captioners: dict[str, Path], *more: str) -> dict:
    args = [f"{label}={path}" for label, path in captioners.items()]
    return script["main"]([*args, "--root", str(root), "--heldout", "4", "--threads", "1", "--device", "cpu", *more])


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.glob("*.parquet"))}


def test_three_mixes_with_their_figures_then_a_rerun_that_recaptions_nothing(
    script: dict, project: tuple[Path, dict[str, Path]], capsys
) -> None:
    root, kept = project
    web_keys = sorted(s.key for tar in sorted((root / "data" / "web_shards").glob("*.tar")) for s in read_shard(tar))
    figures = run(script, root, kept, "--no-order-check")
    assert list(figures) == list(LABELS)
    for label in LABELS:
        path = root / "data" / "mix" / f"captioner_{label}.parquet"
        manifest = pd.read_parquet(path)
        assert sorted(manifest["key"]) == web_keys and list(manifest.columns) == ["key", "shard", "caption", "source"]
        info = read_table_info(path, MIX_KEY, "training mix")
        # 24 rows at 95/5 by largest remainder: 22.8 -> 23 descriptive, 1.2 -> 1 original.
        assert info["spec"]["name"] == f"captioner_{label}" and info["rows"] == 24
        assert info["shares"] == {"descriptive": 23 / 24, "original": 1 / 24}
        assert info["origins"]["original"] >= 1 and info["origins"]["long"] + info["origins"]["original"] <= 24
        saved = json.loads((root / "captioner_quality" / f"{label}.json").read_text())
        assert saved["steps"] == {"weak": 2, "medium": 4, "strong": 6}[label]
        assert set(saved["heldout"]["figures"]) >= {"long/cider_d", "long/object_recall", "long/hallucination_rate"}
        assert saved["heldout"]["judged"] == 4 and saved["heldout"]["sampling"]["top_p"] == 0.9
        assert saved["heldout"]["sampling"]["temperature"] == 0.7
        assert (saved["recaption"]["recaptioned_shards"], saved["recaption"]["skipped_shards"]) == (2, 0)
        assert saved["filter"]["filtered_shards"] == 2 and saved["mix"]["rows"] == 24
        truth = saved["filter_against_truth"]
        assert truth["rows"] == 24 and set(truth["meets_targets"]) == {
            "caught_of_hallucinating",
            "kept_of_wholly_true",
            "kept_synthetic_hallucinating",
        }
        sidecars = root / "captioner_quality" / label
        assert (
            sorted(mtimes(sidecars / "recaptioned"))
            == sorted(mtimes(sidecars / "filtered"))
            == [
                "00000.parquet",
                "00001.parquet",
            ]
        )
    # The three captioners wrote different captions of the same images.
    longs = {
        label: pd.read_parquet(root / "captioner_quality" / label / "recaptioned" / "00000.parquet")["long_caption"]
        for label in LABELS
    }
    assert list(longs["weak"]) != list(longs["strong"])
    printed = capsys.readouterr().out
    assert "| captioner | steps | long CIDEr-D" in printed and "| medium | 4 |" in printed
    assert "in no DVC project" in printed  # a temporary folder: nothing to version it with

    before = {
        label: {part: mtimes(root / "captioner_quality" / label / part) for part in ("recaptioned", "filtered")}
        for label in LABELS
    }
    again = run(script, root, kept, "--no-order-check")
    for label in LABELS:
        assert again[label]["heldout_reused"] is True
        assert (again[label]["recaption"]["recaptioned_shards"], again[label]["recaption"]["skipped_shards"]) == (0, 2)
        assert (again[label]["filter"]["filtered_shards"], again[label]["filter"]["skipped_shards"]) == (0, 2)
        after = {part: mtimes(root / "captioner_quality" / label / part) for part in ("recaptioned", "filtered")}
        assert after == before[label]
        assert again[label]["mix"]["shares"] == figures[label]["mix"]["shares"]


def test_captioners_not_rising_in_quality_are_refused_by_name(
    script: dict, project: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    root, kept = project
    same = {label: kept["strong"] for label in LABELS}  # one captioner three times: equal CIDEr-D
    with pytest.raises(SystemExit, match="does not rise weak < medium < strong") as refused:
        run(script, root, same, "--sidecars", str(tmp_path / "sidecars"), "--out", str(tmp_path))
    message = str(refused.value)
    assert all(f"{label} ({kept['strong']})" in message for label in LABELS) and "--no-order-check" in message
    assert not (tmp_path / "sidecars" / "weak").exists() and not (tmp_path / "data").exists()  # before any work
    assert json.loads((tmp_path / "sidecars" / "weak.json").read_text())["heldout"]["judged"] == 4


def test_the_order_check_and_the_labels(script: dict) -> None:
    paths = {label: Path(label) for label in LABELS}
    script["check_rising_quality"]({"weak": 0.95, "medium": 1.15, "strong": 1.35}, paths)  # rises: no error
    with pytest.raises(SystemExit, match=r"medium \(medium\) 1.150, strong \(strong\) 1.100"):
        script["check_rising_quality"]({"weak": 0.95, "medium": 1.15, "strong": 1.10}, paths)
    with pytest.raises(SystemExit, match="LABEL one of weak, medium, strong"):
        script["parse_captioners"]([("best", Path("somewhere"))])
