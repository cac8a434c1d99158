"""`recap generate` behind the safety policy and signed with C2PA, in process, on projects of
their own: a refused prompt or rewrite stops before the pipeline is called (exit 3), logged to
MLflow by its hash; an image whose drawn sign carries a blocked word is blanked and named; the
written PNG carries a manifest the test CA verifies, naming the prompts by hash; signing without
a key is refused unless --no-sign says so."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from PIL import Image

from components.io.hashing import directory_version
from components.provenance import make_test_certificates, verify_file
from recap_dagster.cli import main
from tests.generator.saved_pipeline import save_tiny_pipeline
from tests.safety.sign_scenes import sign_scene
from tests.tiny_params import tiny_params
from tests.upsampling.saved_upsampler import PAIRS, save_tiny_upsampler

PROMPT, REWRITE = PAIRS[0]  # "a red circle" and the tiny rewriter's caption of it ("... a plain white background.")


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_pipeline(tmp_path_factory.mktemp("generator") / "generator")


@pytest.fixture(scope="module")
def upsampler_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_upsampler(tmp_path_factory.mktemp("upsampler") / "upsampler")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory):
    return make_test_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A project of its own: write_params(safety, provenance) writes its params.yaml; its MLflow
    store is a sqlite file under it; no signing key in the environment."""
    monkeypatch.setenv("RECAP_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in ("RECAP_C2PA_CERT", "RECAP_C2PA_KEY", "RECAP_C2PA_TSA_URL"):
        monkeypatch.delenv(name, raising=False)

    def write_params(safety: dict | None = None, provenance: dict | None = None) -> Path:
        params = tiny_params(safety=safety or {}, provenance=provenance or {})
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        return tmp_path

    return write_params


@pytest.fixture
def pipeline_never_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.generator.pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the pipeline was loaded")

    monkeypatch.setattr(components.generator.pipeline, "load_pipeline", refuse)


def refusal_runs(root: Path) -> list:
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("recap-safety")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def test_a_blocked_prompt_is_refused_before_the_pipeline_is_called(
    project, pipeline_dir: Path, tmp_path: Path, pipeline_never_loads: None, capsys
) -> None:
    root = project(safety={"blocked_terms": ["stop"]})
    out = tmp_path / "img.png"
    prompt = "a sign that says 'S.T.0.P'"
    argv = ["generate", prompt, "--pipeline", str(pipeline_dir), "--out", str(out), "--no-upsample", "--no-sign"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "recap: refused: the prompt breaks the safety policy (rule term:stop)" in err
    assert "nothing was generated" in err and not out.exists()
    [run] = refusal_runs(root)
    tags = run.data.tags
    assert tags["recap.safety.rule"] == "term:stop" and tags["recap.safety.stage"] == "prompt"
    assert tags["recap.safety.prompt_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()
    assert "recap.safety.prompt" not in tags  # the policy does not log prompts
    assert all(prompt not in value for value in tags.values())


def test_the_policy_may_log_the_prompt_itself(
    project, pipeline_dir: Path, tmp_path: Path, pipeline_never_loads
) -> None:
    root = project(safety={"blocked_terms": ["stop"], "log_prompts": True})
    argv = ["generate", "stop", "--pipeline", str(pipeline_dir), "--out", str(tmp_path / "x.png"), "--no-sign"]
    assert main(argv) == 3
    [run] = refusal_runs(root)
    assert run.data.tags["recap.safety.prompt"] == "stop"


def test_a_rewrite_that_brings_a_blocked_word_is_refused(
    project, pipeline_dir: Path, upsampler_dir: Path, tmp_path: Path, pipeline_never_loads: None, capsys
) -> None:
    root = project(safety={"blocked_terms": ["plain"]})  # the prompt has none; its rewrite does
    out = tmp_path / "img.png"
    argv = ["generate", PROMPT, "--pipeline", str(pipeline_dir), "--out", str(out), "--model", str(upsampler_dir)]
    assert main([*argv, "--no-sign"]) == 3
    err = capsys.readouterr().err
    assert f"drawing from:\n  {REWRITE}\n" in err
    assert "recap: refused: the prompt's rewrite breaks the safety policy (rule term:plain)" in err
    assert not out.exists()
    [run] = refusal_runs(root)
    assert run.data.tags["recap.safety.stage"] == "rewrite"
    assert run.data.tags["recap.safety.prompt_sha256"] == hashlib.sha256(REWRITE.encode()).hexdigest()


def test_an_image_with_a_blocked_sign_word_is_blanked_and_named(
    project, pipeline_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The generator 'draws' a STOP sign unasked, then an OPEN one: the first is blanked, the second kept."""
    import components.generator.pipeline

    drawn = np.stack([sign_scene("STOP"), sign_scene("OPEN")])
    monkeypatch.setattr(components.generator.pipeline, "generate", lambda *args, **kwargs: drawn)
    project(safety={"blocked_terms": ["stop"]})
    out = tmp_path / "img.png"
    argv = ["generate", PROMPT, "--pipeline", str(pipeline_dir), "--out", str(out), "--count", "2"]
    assert main([*argv, "--no-upsample", "--no-sign"]) == 0
    written = np.asarray(Image.open(out))
    assert not written[:, :64].any() and np.array_equal(written[:, 64:], drawn[1])
    assert "recap: image 1 (seed 0) blanked: rule sign-word:STOP" in capsys.readouterr().err


def test_the_written_image_is_signed_and_verifies_with_the_test_ca(
    project, pipeline_dir: Path, certificates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from components.generator.pipeline import generate, load_pipeline
    from components.generator.train.stage import default_rescale

    project(provenance={"certificate": str(certificates.certificate), "private_key": str(certificates.private_key)})
    out = tmp_path / "img.png"
    argv = ["generate", PROMPT, "--pipeline", str(pipeline_dir), "--out", str(out), "--steps", "2", "--seed", "3"]
    assert main([*argv, "--no-upsample"]) == 0
    assert "signed with C2PA" in capsys.readouterr().err
    direct = generate(
        load_pipeline(pipeline_dir), [PROMPT], seed=3, steps=2, guidance_scale=4.0,
        guidance_rescale=default_rescale(pipeline_dir),
    )  # fmt: skip
    assert np.array_equal(np.asarray(Image.open(out)), direct[0])  # the manifest leaves the pixels alone

    checked = verify_file(out, trust_anchors=certificates.ca)
    assert checked.state == "trusted", checked.errors
    claim = generation_assertion(checked.manifest)
    sha = hashlib.sha256(PROMPT.encode()).hexdigest()
    assert claim["prompt_sha256"] == claim["user_prompt_sha256"] == sha and claim["upsampled"] is False
    assert claim["pipeline_hash"] == directory_version(pipeline_dir) and claim["model_version"] == "unregistered"
    assert claim["filters"]["prompt"] is True and claim["seed"] == 3
    assert main(["provenance", "verify", str(out), "--trust", str(certificates.ca)]) == 0
    assert "trusted" in capsys.readouterr().out


def generation_assertion(manifest: dict | None) -> dict:
    assert manifest is not None
    [data] = [a["data"] for a in manifest["assertions"] if a["label"] == "org.recap.generation"]
    return data


def test_signing_needs_a_key_or_no_sign(
    project, pipeline_dir: Path, tmp_path: Path, pipeline_never_loads: None, capsys
) -> None:
    project()
    out = tmp_path / "img.png"
    argv = ["generate", PROMPT, "--pipeline", str(pipeline_dir), "--out", str(out), "--no-upsample"]
    assert main(argv) == 2
    assert "--no-sign" in capsys.readouterr().err and not out.exists()
    garbage = tmp_path / "signing.pem"
    garbage.write_text("not a certificate")
    project(provenance={"certificate": str(garbage), "private_key": str(garbage)})
    assert main(argv) == 2
    assert str(garbage) in capsys.readouterr().err and not out.exists()
