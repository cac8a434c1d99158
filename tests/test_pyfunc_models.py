"""Registered models load with `mlflow.pyfunc.load_model("models:/<name>@<alias>")` and do what
the project's own code does: the captioner writes the captions recaptioning writes for an
image, the generator draws the image `generate` draws for a prompt and seed, the upsampler
gives the guarded rewrites `recap upsample` gives, and a generator registered with an
upsampler draws from a prompt's rewrite when asked (`upsample`), else as before. Each is a
model from code (nothing pickled) with pinned requirements. `champion` moves only on a better
metric."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from importlib import metadata
from pathlib import Path

import mlflow
import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from mlflow import MlflowClient
from PIL import Image

from components.captioner.engine import CaptionEngine
from components.captioner.loading import load_captioner
from components.captioner.sampling import SamplingSettings
from components.data.image_decode import decode_image
from recap_dagster.resources import MlflowRun, MlflowTracking
from recap_dagster.resources.model_registry import CHAMPION, save_pyfunc, update_champion
from tests.captioner.saved_captioner import make_captioner
from tests.safety.sign_scenes import sign_scene
from tests.upsampling.saved_upsampler import PAIRS, save_tiny_upsampler


@pytest.fixture
def tracking(tmp_path: Path):
    """A store of its own, and the fluent API's URIs pointing at it (load_model reads them)."""
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    # set_tracking_uri also sets $MLFLOW_TRACKING_URI: restoring MLflow's default by setting it would
    # point every later test in this worker at ./mlflow.db, so the environment is restored as it was
    environment = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield MlflowTracking(tracking_uri=uri)
    mlflow.set_tracking_uri(None)  # pyright: ignore[reportArgumentType]  # None: back to MLflow's default
    mlflow.set_registry_uri(None)  # pyright: ignore[reportArgumentType]
    for name, value in environment.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


@pytest.fixture(scope="module")
def upsampler_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny saved rewriter that knows PAIRS by heart ("a red circle" -> a detailed caption)."""
    return save_tiny_upsampler(tmp_path_factory.mktemp("upsampler") / "upsampler")


UNSIGNED = {"device": "cpu", "sign": False}  # images come back unsigned, by choice (signing: its own test below)


def new_run(tracking: MlflowTracking) -> MlflowRun:
    client = tracking.client()
    experiment_id = tracking.experiment_id(client)
    return MlflowRun(client, client.create_run(experiment_id).info.run_id, experiment_id)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_registered_captioner_captions_as_recaptioning_does(tracking: MlflowTracking, tmp_path: Path) -> None:
    captioner_dir = make_captioner(tmp_path / "captioner")
    run = new_run(tracking)
    run.log_metrics({"eval/long/cider_d": 0.25})
    version = run.register_model(captioner_dir, "recap-captioner", "newest", champion_metric="eval/long/cider_d")
    run.finish()

    rng = np.random.default_rng(0)
    shapes = [(64, 64, 3)] * 5 + [(48, 80, 3)]  # the last one is resized on its way in
    images = [png(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in shapes]
    model = mlflow.pyfunc.load_model("models:/recap-captioner@newest", model_config={"device": "cpu"})
    out = model.predict(pd.DataFrame({"image": images}))
    with_key = model.predict(
        pd.DataFrame({"image": [base64.b64encode(images[-1]).decode()], "key": ["000010000"]}), params={"seed": 7}
    )

    # The direct path: recaptioning's decoder and engine on the same images, keyed by content.
    loaded = load_captioner(captioner_dir)
    pixels = [decode_image(data, loaded.image_size)[0] for data in images]
    tensor = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float().div_(255.0)
    keys = [hashlib.sha256(data).hexdigest()[:16] for data in images]
    pairs = CaptionEngine(loaded, SamplingSettings(seed=0)).caption(tensor, keys)
    assert list(out["key"]) == keys
    assert list(out["short"]) == [p.short for p in pairs] and list(out["long"]) == [p.long for p in pairs]
    assert sum(bool(p.short) + bool(p.long) for p in pairs) >= 3  # text was written, not only <eos>
    [keyed] = CaptionEngine(loaded, SamplingSettings(seed=7)).caption(tensor[-1:], ["000010000"])
    assert (with_key["short"][0], with_key["long"][0]) == (keyed.short, keyed.long)

    client = MlflowClient(tracking.resolved_uri())
    assert str(client.get_model_version_by_alias("recap-captioner", CHAMPION).version) == version  # the first
    assert client.get_model_version("recap-captioner", version).tags["champion.value"] == "0.25"
    local = Path(mlflow.artifacts.download_artifacts(f"models:/recap-captioner/{version}"))
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["model_code_path"].endswith("captioner_model.py") and "python_model" not in flavor  # no pickle
    assert not list(local.rglob("*.pkl"))
    assert (local / "artifacts" / "captioner" / "model.safetensors").is_file()
    assert (local / "code" / "components" / "captioner" / "loading.py").is_file()  # the code, bundled
    requirements = (local / "requirements.txt").read_text().split()
    assert f"mlflow=={metadata.version('mlflow')}" in requirements
    assert f"torch=={metadata.version('torch')}" in requirements


def test_the_registered_generator_draws_as_generate_does(tracking: MlflowTracking, tmp_path: Path) -> None:
    from components.generator.pipeline import generate, load_pipeline
    from tests.generator.saved_pipeline import save_tiny_pipeline

    pipeline_dir = save_tiny_pipeline(tmp_path / "generator")
    run = new_run(tracking)
    run.register_model(pipeline_dir, "recap-generator", "newest_test", tags={"mix": "test"})
    run.finish()

    prompts = ["a red circle", ""]
    model = mlflow.pyfunc.load_model("models:/recap-generator@newest_test", model_config=UNSIGNED)
    out = model.predict(pd.DataFrame({"prompt": prompts}), params={"seed": 3, "steps": 2, "guidance_scale": 5.0})
    drawn = np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(s)))) for s in out["image"]])
    direct = generate(load_pipeline(pipeline_dir), prompts, seed=3, steps=2, guidance_scale=5.0, guidance_rescale=0.0)
    assert drawn.shape == (2, 64, 64, 3) and np.array_equal(drawn, direct)
    assert list(out["prompt"]) == prompts and list(out["drawn_prompt"]) == prompts
    assert list(out["refusal"]) == ["", ""] and list(out["nsfw_content_detected"]) == [False, False]
    other_seed = model.predict(pd.DataFrame({"prompt": prompts[:1]}), params={"seed": 4, "steps": 2})
    assert other_seed["image"][0] != out["image"][0]
    with pytest.raises(ValueError, match="registered without a prompt upsampler"):
        model.predict(pd.DataFrame({"prompt": prompts}), params={"upsample": True})
    with pytest.raises(ValueError, match="extra artifact 'generator' would replace the model directory"):
        save_pyfunc(pipeline_dir, tmp_path / "clash", {"generator": pipeline_dir})


def decoded(images: pd.Series) -> np.ndarray:
    return np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(s)))) for s in images])


def test_the_registered_upsampler_rewrites_as_recap_upsample_does(
    tracking: MlflowTracking, upsampler_dir: Path
) -> None:
    from components.upsampling.backends import RewriterSettings, open_upsampler
    from components.upsampling.intent import check_intent

    run = new_run(tracking)
    run.register_model(upsampler_dir, "recap-upsampler", "newest")
    run.finish()

    prompt, rewrite = PAIRS[0]
    prompts = [prompt, "a purple star", ""]  # known by heart, never rewritten well, empty
    model = mlflow.pyfunc.load_model("models:/recap-upsampler@newest", model_config={"device": "cpu"})
    out = model.predict(pd.DataFrame({"prompt": prompts}), params={"n": 2, "seed": 5})
    assert list(out.columns) == ["prompt", "rewrite", "used_fallback", "note"] and len(out) == 6
    assert list(out["prompt"]) == [p for p in prompts for _ in range(2)]
    assert list(out["rewrite"][:2]) == [rewrite] * 2 and all(check_intent(prompt, r).passed for r in out["rewrite"][:2])
    assert list(out["used_fallback"]) == [False, False, True, True, False, False]
    assert list(out["rewrite"][2:]) == ["a purple star"] * 2 + [""] * 2
    assert out["note"][4] == "empty prompt: not rewritten"
    # prompt i's rewrites are `recap upsample --seed (5 + i) -n 2`'s
    rows = list(zip(out["rewrite"], out["note"], strict=True))
    for i, text in enumerate(prompts):
        direct = open_upsampler(RewriterSettings(model=str(upsampler_dir), seed=5 + i)).upsample_many(text, 2)
        assert [(r.text, r.note) for r in direct] == rows[2 * i : 2 * i + 2]
    once = model.predict(pd.DataFrame({"prompt": ["a purple star"]}), params={"tries": 1})
    assert once["note"][0] == "drawn from the prompt as written: 1 rewrite failed the intent check"

    local = Path(mlflow.artifacts.download_artifacts("models:/recap-upsampler/1"))
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["model_code_path"].endswith("upsampler_model.py") and not list(local.rglob("*.pkl"))
    assert (local / "artifacts" / "upsampler" / "upsampler.json").is_file()


def test_the_registered_generator_upsamples_only_when_asked(
    tracking: MlflowTracking, upsampler_dir: Path, tmp_path: Path
) -> None:
    from components.generator.pipeline import generate, load_pipeline
    from tests.generator.saved_pipeline import save_tiny_pipeline

    pipeline_dir = save_tiny_pipeline(tmp_path / "generator")
    run = new_run(tracking)
    run.register_model(pipeline_dir, "recap-generator", "newest_test", extra_artifacts={"upsampler": upsampler_dir})
    run.finish()

    prompt, rewrite = PAIRS[0]
    prompts = [prompt, ""]
    model = mlflow.pyfunc.load_model("models:/recap-generator@newest_test", model_config=UNSIGNED)
    sampling = {"seed": 3, "steps": 2, "guidance_scale": 5.0}
    upsampled = model.predict(pd.DataFrame({"prompt": prompts}), params={**sampling, "upsample": True})
    as_written = model.predict(pd.DataFrame({"prompt": prompts}), params=sampling)
    assert list(upsampled["drawn_prompt"]) == [rewrite, ""] and list(upsampled["prompt"]) == prompts
    assert list(as_written["drawn_prompt"]) == prompts
    pipe = load_pipeline(pipeline_dir)
    for out, drawn in ((upsampled, [rewrite, ""]), (as_written, prompts)):
        direct = generate(pipe, drawn, seed=3, steps=2, guidance_scale=5.0, guidance_rescale=0.0)
        assert np.array_equal(decoded(out["image"]), direct)


def test_the_registered_generator_refuses_blanks_and_signs(
    tracking: MlflowTracking, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered with a policy blocking "stop": a prompt naming it gets a refusal and no image;
    a drawn image whose sign reads STOP comes back blank and flagged; every image returned is
    signed, its manifest naming the registered version found by the pipeline's hash."""
    import components.generator.pipeline
    from components.io.hashing import directory_version
    from components.provenance import make_test_certificates, verify_file
    from components.safety import load_policy
    from components.safety.saved import save_policy
    from tests.generator.saved_pipeline import save_tiny_pipeline

    pipeline_dir = save_tiny_pipeline(tmp_path / "generator")
    policy_dir = save_policy(load_policy({"blocked_terms": ["stop"]}, root=tmp_path), tmp_path / "safety")
    run = new_run(tracking)
    tags = {"pipeline_hash": directory_version(pipeline_dir)}
    version = run.register_model(
        pipeline_dir, "recap-generator", "newest_test", tags, extra_artifacts={"safety": policy_dir}
    )
    run.finish()
    for name in ("RECAP_C2PA_CERT", "RECAP_C2PA_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Exception, match="--no-sign"):  # signing is on and no key is configured
        mlflow.pyfunc.load_model("models:/recap-generator@newest_test", model_config={"device": "cpu"})

    certificates = make_test_certificates(tmp_path / "certs")
    drawn = [sign_scene("STOP"), sign_scene("OPEN")]  # what the 'generator' draws, one per call
    monkeypatch.setattr(components.generator.pipeline, "generate", lambda *a, **k: np.stack([drawn.pop(0)]))
    config = {"device": "cpu", "c2pa_certificate": str(certificates.certificate)}
    config["c2pa_private_key"] = str(certificates.private_key)
    model = mlflow.pyfunc.load_model("models:/recap-generator@newest_test", model_config=config)
    prompts = ["a red circle", "a sign that says 'st0p'", "a blue square"]
    out = model.predict(pd.DataFrame({"prompt": prompts}), params={"seed": 3, "steps": 2})
    assert out["refusal"][1].startswith("refused: the prompt breaks the safety policy (rule term:stop): ")
    assert list(out["refusal"] == "") == [True, False, True] and out["image"][1] == ""
    assert list(out["nsfw_content_detected"]) == [True, False, False]
    images = decoded(out["image"][[0, 2]])
    assert not images[0].any() and np.array_equal(images[1], sign_scene("OPEN"))
    signed = tmp_path / "returned.png"
    signed.write_bytes(base64.b64decode(out["image"][2]))
    checked = verify_file(signed, trust_anchors=certificates.ca)
    assert checked.state == "trusted", checked.errors
    assert checked.manifest is not None
    [claim] = [a["data"] for a in checked.manifest["assertions"] if a["label"] == "org.recap.generation"]
    assert claim["model_version"] == f"recap-generator/{version}" and claim["pipeline_hash"] == tags["pipeline_hash"]
    assert claim["user_prompt_sha256"] == hashlib.sha256(b"a blue square").hexdigest() and claim["seed"] == 5


def test_champion_moves_only_on_a_better_metric(tracking: MlflowTracking) -> None:
    client = tracking.client()
    tracking.experiment_id(client)
    client.create_registered_model("judged")
    run_id = new_run(tracking).run_id

    def version(value: float, metric: str = "eval/score", higher_is_better: bool = True) -> tuple[str, bool, str]:
        made = client.create_model_version("judged", f"file:///nowhere/{run_id}", run_id=run_id).version
        moved = update_champion(client, "judged", str(made), metric, value, higher_is_better=higher_is_better)
        return str(made), moved, str(client.get_model_version_by_alias("judged", CHAMPION).version)

    assert version(0.5) == ("1", True, "1")  # no champion yet
    assert version(0.4) == ("2", False, "1")  # worse
    assert version(0.7) == ("3", True, "3")  # better
    assert version(0.7) == ("4", False, "3")  # a tie keeps the champion
    assert version(float("nan")) == ("5", False, "3")  # no figure never wins
    assert version(9.0, "eval/loss", higher_is_better=False) == ("6", True, "6")  # judged by another metric
    assert version(8.0, "eval/loss", higher_is_better=False) == ("7", True, "7")  # lower is better here
    assert version(8.5, "eval/loss", higher_is_better=False) == ("8", False, "7")
    tags = client.get_model_version("judged", "2").tags
    assert (tags["champion.metric"], tags["champion.value"]) == ("eval/score", "0.4")
