"""The DVC metrics and plots files are read from what the assets wrote, land where dvc.yaml
declares them, and carry the figures (recap_dagster/metrics_files.py)."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from components.captioner import checkpoint
from components.generator.train.stage import MANIFEST as GENERATOR_MANIFEST
from components.judge import checkpoint as judge_checkpoint
from components.recaption.sidecar import write_table_with_info
from components.upsampling import checkpoint as upsampler_checkpoint
from components.vae.checkpoint import MANIFEST as VAE_MANIFEST
from recap_dagster.defs.upsampling import MEASURES_FILE
from recap_dagster.metrics_files import FIGURES, MIX_KEY, declared_outputs, rounded, write_figures
from recap_dagster.resources import ProjectStorage


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def fake_artifacts(storage: ProjectStorage) -> None:
    """The manifests, parquets and report the eight assets with figures write, with made-up figures."""
    write_json(
        storage.captioner_dir() / checkpoint.MANIFEST_FILE,
        {
            "format": checkpoint.FORMAT,
            "extra": {"steps": 40, "minutes": 1.5, "metrics": {"long/object_recall": 0.5, "long/other": 9.0}},
        },
    )
    write_json(
        storage.alignment_dir() / judge_checkpoint.MANIFEST_FILE,
        {"format": judge_checkpoint.FORMAT, "threshold": 0.25, "steps": 7, "metrics": {"true_pass_share": 0.95}},
    )
    write_json(
        storage.upsampler_dir() / upsampler_checkpoint.MANIFEST_FILE,
        {"format": upsampler_checkpoint.FORMAT, "steps": 11, "minutes": 1.5, "temperature": 0.8},
    )
    write_json(
        storage.upsampler_dir() / MEASURES_FILE,
        {
            "intent": {
                "all": {
                    name: {"share": share, "interval": [0, 1]}
                    for name, share in (("before", 0.5), ("after", 1.0), ("fallbacks", 0.25))
                }
            },
            "diversity": {"distinct_share": 0.75, "rewrite_words": {"mean": 60.0}},
        },
    )
    write_json(
        storage.vae_dir() / VAE_MANIFEST,
        {"steps": 9, "report": {"psnr": float("inf"), "objects_kept": 0.75}, "curve": [{"step": 3, "psnr": 12.0}]},
    )
    for mix, passed in (("paper", 3), ("original_only", 1)):
        write_json(
            storage.generator_dir(mix) / GENERATOR_MANIFEST,
            {"steps": 5, "figures": {"single/colour": [passed, 4]}, "curve": [{"step": 5, "single/colour": 0.5}]},
        )
    storage.filtered_dir().mkdir(parents=True)
    filtered = pd.DataFrame({"attempts": [1, 2, 0, 1], "source": ["long", "original", "error", "long"]})
    filtered.to_parquet(storage.filtered_dir() / "00000.parquet")
    storage.mix_dir().mkdir(parents=True)
    table = pa.table({"key": ["a", "b"]})
    info = {"rows": 2, "shares": {"descriptive": 0.5, "original": 0.5}, "truncated": 0, "spec": {"name": "paper"}}
    info["safety"] = {"policy_version": "0123456789ab", "removed": 1, "removed_by_rule": {"term:stop": 1}}
    write_table_with_info(storage.mix_dir() / "paper.parquet", table, MIX_KEY, info)
    report = {
        "original_only": {"geneval/short/overall": 0.25, "geneval/long/overall": 0.125, "clip_score": 20.0},
        "paper": {"geneval/short/overall": 0.5, "preference/rate": 0.75, "paper/preference": 0.717},
    }
    write_json(storage.eval_report_dir() / "report.json", report)


def test_each_asset_writes_the_files_dvc_yaml_declares(tmp_path: Path) -> None:
    storage = ProjectStorage(data_root=str(tmp_path / "data"))
    fake_artifacts(storage)
    root = tmp_path / "project"
    history = {("captioner", "train/loss"): [(0, 4.0), (1, 3.5)], ("captioner", "val/loss"): [(1, 3.75)]}
    for asset in FIGURES:
        written = write_figures(asset, storage, root, lambda a, m: history.get((a, m), []))
        metrics, plots = declared_outputs(asset)
        assert [str(p.relative_to(root)) for p in written] == metrics + plots
    figures = {path.stem: json.loads(path.read_text()) for path in (root / "metrics").iterdir()}
    assert figures["captioner"] == {"steps": 40, "minutes": 1.5, "long/object_recall": 0.5}  # headline figures only
    assert figures["alignment_model"] == {"threshold": 0.25, "steps": 7, "heldout": {"true_pass_share": 0.95}}
    assert figures["vae"] == {"steps": 9, "psnr": None, "objects_kept": 0.75}  # JSON has no Infinity
    assert figures["prompt_upsampler"] == {
        "steps": 11,
        "minutes": 1.5,
        "intent": {"all": {"before": 0.5, "after": 1.0, "fallbacks": 0.25}},
        "distinct_share": 0.75,
        "rewrite_words": {"mean": 60.0},
    }
    assert figures["generator"]["paper"]["single/colour"] == 0.75
    assert figures["generator"]["original_only"]["single/colour"] == 0.25
    assert figures["filtered_captions"]["fallback_share"] == pytest.approx(1 / 3)  # of the 3 judged rows
    assert figures["filtered_captions"]["source_share"] == {"error": 0.25, "long": 0.5, "original": 0.25}
    assert figures["training_mix"] == {
        "paper": {"rows": 2, "truncated": 0, "share": {"descriptive": 0.5, "original": 0.5}, "safety_removed": 1}
    }
    loss = json.loads((root / "plots" / "captioner_loss.json").read_text())
    assert loss == [{"step": 0, "train_loss": 4.0}, {"step": 1, "train_loss": 3.5, "val_loss": 3.75}]
    assert sorted(p.name for p in (root / "plots" / "generator").iterdir()) == ["original_only.json", "paper.json"]
    assert figures["eval_report"]["paper"] == {
        "geneval/short/overall": 0.5,
        "preference/rate": 0.75,
        "paper/preference": 0.717,
    }
    bars = json.loads((root / "plots" / "eval_report.json").read_text())
    assert bars == [
        {"generator": "original_only", "short": 0.25, "long": 0.125},
        {"generator": "paper", "short": 0.5},
    ]


def test_a_plots_folder_holds_only_the_mixes_on_disk(tmp_path: Path) -> None:
    storage = ProjectStorage(data_root=str(tmp_path / "data"))
    fake_artifacts(storage)
    root = tmp_path / "project"
    write_figures("generator", storage, root)
    (storage.generator_dir("original_only") / GENERATOR_MANIFEST).unlink()
    write_figures("generator", storage, root)
    assert [p.name for p in (root / "plots" / "generator").iterdir()] == ["paper.json"]
    assert list(json.loads((root / "metrics" / "generator.json").read_text())) == ["paper"]


def test_missing_artifacts_fail_naming_the_folder(tmp_path: Path) -> None:
    storage = ProjectStorage(data_root=str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match=str(storage.filtered_dir())):
        write_figures("filtered_captions", storage, tmp_path)
    assert write_figures("web_shards", storage, tmp_path) == []  # an asset without figures writes none


def test_rounding_keeps_json_numbers_tidy() -> None:
    assert rounded({"a": 1 / 3, "b": [2, float("nan")], "c": True}) == {"a": 0.333333, "b": [2, None], "c": True}
