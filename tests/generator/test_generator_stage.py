"""The generator's stage: a mix cached as latents and embeddings (missing rows counted, a cache
reused), training steps with EMA and caption dropout, a SIGKILLed run resumed at the right step,
and the exported pipeline loaded by diffusers alone and sampled reproducibly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from components.evaluation.generator_eval import eval_prompts, prompt_judge
from components.generator.model import build_unet
from components.generator.objective import OBJECTIVES
from components.generator.pipeline import assemble_pipeline, generate, load_pipeline, sampling_scheduler
from components.generator.train.data import TrainingSet, build_training_set
from components.generator.train.module import GeneratorData, GeneratorModule, LatentCaptions
from components.generator.train.recipe import resolve_generator_recipe
from components.generator.train.stage import default_rescale, generator_manifest, train_generator
from components.training.fit import fit
from components.training.settings import OptimizerSettings, TrainerSettings
from tests.generator.conftest import manifest_of

TINY = {
    "unet": "tiny",
    "max_tokens": 8,
    "max_steps": 5,
    "max_minutes": None,
    "batch_size": 4,
    "checkpoint_every_n_steps": 2,
    "progress_bar": False,
    "eval_prompts": 1,
    "sampling.steps": 2,
}


def _training_set(
    tmp_path: Path, shards, tiny_vae, encoder, extra=(), *, name="test", vae_version="v1", **options
) -> TrainingSet:
    """Builds (or reads) the cache under tmp_path/cache from a manifest of `shards`' rows plus `extra`."""
    return build_training_set(
        name,
        manifest_of(shards, tmp_path / "mix.parquet", list(extra)),
        shards,
        vae=tiny_vae,
        vae_version=vae_version,
        encoder=encoder,
        encoder_name="minilm",
        image_size=64,
        cache_dir=tmp_path / "cache",
        **options,
    )


def test_a_mix_is_cached_once_and_missing_rows_are_counted(tmp_path, world_shards, tiny_vae, encoder) -> None:
    extra = [("nope", "00000", "a ghost"), ("00009_0000", "00009", "a shard that is not there")]
    made = _training_set(tmp_path, world_shards, tiny_vae, encoder, extra)
    assert made.latents.shape == (24, 4, 16, 16) and made.latents.dtype == np.float16
    assert made.embeddings.shape == (24, 8, 384) and made.empty.shape == (8, 384)
    assert made.info["skipped"] == {"key_missing_from_shard": 1, "shard_missing": 1}
    assert made.info["manifest_rows"] == 26 and made.info["rows"] == 24
    assert made.info["truncated"] > 0  # alt texts longer than 8 tokens, counted
    # the embeddings are what the encoder gives (fp16 in the cache)
    np.testing.assert_allclose(made.embeddings[0], encoder.encode([made.captions[0]])[0], atol=2e-3)
    # a second build with the same inputs reads the cache; another VAE version rebuilds it
    stamp = (tmp_path / "cache" / "info.json").stat().st_mtime_ns
    _training_set(tmp_path, world_shards, tiny_vae, encoder, extra)
    assert (tmp_path / "cache" / "info.json").stat().st_mtime_ns == stamp
    rebuilt = _training_set(tmp_path, world_shards, tiny_vae, encoder, extra, vae_version="v2", max_rows=5)
    assert rebuilt.info["rows"] == 5 and rebuilt.info["vae_version"] == "v2"


def test_a_mix_without_usable_rows_stops(tmp_path, world_shards, tiny_vae, encoder) -> None:
    manifest_of({}, tmp_path / "mix.parquet", [("nope", "00000", "a ghost")])  # one row, its key not in the shard
    with pytest.raises(ValueError, match="mix 'empty' has no usable rows: 1 in .*key_missing_from_shard"):
        build_training_set(
            "empty",
            tmp_path / "mix.parquet",
            world_shards,
            vae=tiny_vae,
            vae_version="v",
            encoder=encoder,
            encoder_name="minilm",
            image_size=64,
            cache_dir=tmp_path / "cache",
        )


def _random_set(n: int = 8) -> TrainingSet:
    rng = np.random.default_rng(0)
    return TrainingSet(
        rng.standard_normal((n, 4, 16, 16)).astype(np.float16),
        rng.standard_normal((n, 8, 384)).astype(np.float16),
        np.zeros((8, 384), np.float32),
        ["x"] * n,
        {},
    )


def test_two_training_steps_move_the_weights_and_their_average(tmp_path: Path) -> None:
    torch.manual_seed(0)
    unet = build_unet("tiny", sample_size=16, latent_channels=4, cross_attention_dim=384)
    start = {k: v.clone() for k, v in unet.state_dict().items()}
    module = GeneratorModule(
        unet,
        OBJECTIVES["v_zero_snr_min_snr"],
        OptimizerSettings(warmup_steps=0),
        empty_caption=np.zeros((8, 384)),
        total_steps=2,
        ema_decay=0.9,
    )
    settings = TrainerSettings(max_steps=2, progress_bar=False, checkpoint_every_n_steps=10)
    result = fit(module, GeneratorData(LatentCaptions(_random_set()), batch_size=4), settings, tmp_path, validate=False)
    assert result.steps == 2
    name = "conv_in.weight"
    trained, averaged = module.unet.state_dict()[name], module.ema.state_dict()[name]
    assert not torch.equal(trained, start[name]) and not torch.equal(averaged, start[name])
    assert not torch.equal(averaged, trained)  # the average lags the weights
    assert not any(p.requires_grad for p in module.ema.parameters())


def test_caption_dropout_replaces_captions_with_the_empty_one() -> None:
    unet = build_unet("tiny", sample_size=16, latent_channels=4, cross_attention_dim=384)
    empty = np.full((8, 384), 7.0, np.float32)
    seen: list[torch.Tensor] = []
    module = GeneratorModule(
        unet, OBJECTIVES["epsilon"], OptimizerSettings(), empty_caption=empty, total_steps=1, caption_dropout=0.5
    )
    module.unet.forward = lambda x, t, encoder_hidden_states: (
        seen.append(encoder_hidden_states)
        or type(  # type: ignore
            "Out", (), {"sample": torch.zeros_like(x)}
        )()
    )
    torch.manual_seed(0)
    module.forward_loss(torch.zeros(400, 4, 16, 16), torch.zeros(400, 8, 384))
    dropped = (seen[0] == 7.0).all(dim=(1, 2))
    assert 0.4 < dropped.float().mean().item() < 0.6  # a share near caption_dropout, each whole
    assert ((seen[0] == 0.0).all(dim=(1, 2)) | dropped).all()


KILLED_RUN = textwrap.dedent("""
    import ast, os, signal, sys
    from pathlib import Path
    import lightning as L
    import torch
    from components.generator.train.recipe import resolve_generator_recipe
    from components.evaluation.generator_eval import eval_prompts, prompt_judge
    from components.generator.train.stage import train_generator
    from components.generator.text_encoder import load_text_encoder
    from components.generator.train.data import load_training_set
    from components.vae.model import build_vae

    cache, work, out, kill_at = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    overrides = {k: v for k, v in (a.split("=", 1) for a in sys.argv[5:])}

    class KillAt(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            print("STEP", trainer.global_step, flush=True)
            if trainer.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no final save: a real crash

    torch.manual_seed(0)
    vae = build_vae("tiny_f4").eval()
    vae.register_to_config(scaling_factor=1.0)
    def value(text):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    recipe = resolve_generator_recipe("quick", {k: value(v) for k, v in overrides.items()})
    train_generator(recipe, load_training_set(cache), vae=vae, encoder=load_text_encoder(max_tokens=8),
                    judge=prompt_judge(eval_prompts(recipe.eval_prompts)), work_dir=work, out_dir=out,
                    callbacks=[KillAt()])
""")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, world_shards, tiny_vae, encoder) -> Path:
    """A tiny generator SIGKILLed at step 3 in a subprocess, then resumed here to its 5 steps and exported."""
    tmp = tmp_path_factory.mktemp("generator")
    training_set = _training_set(tmp, world_shards, tiny_vae, encoder)
    recipe = resolve_generator_recipe("quick", TINY)
    script = tmp / "run.py"
    script.write_text(KILLED_RUN)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    overrides = [f"{k}={v}" for k, v in TINY.items()]
    args = [sys.executable, str(script), str(tmp / "cache"), str(tmp / "work"), str(tmp / "pipeline"), "3"]
    killed = subprocess.run([*args, *overrides], capture_output=True, text=True, timeout=300, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "STEP 3" in killed.stdout and "STEP 4" not in killed.stdout
    assert (tmp / "work" / "checkpoints" / "last.ckpt").is_dir() and not (tmp / "pipeline").exists()
    resumed = train_generator(
        recipe,
        training_set,
        work_dir=tmp / "work",
        out_dir=tmp / "pipeline",
        vae=tiny_vae,
        encoder=encoder,
        judge=prompt_judge(eval_prompts(recipe.eval_prompts)),
    )
    assert resumed.fit.resumed_from is not None and resumed.fit.steps == 5  # from the step-2 checkpoint to 5
    assert not resumed.fit.checkpoint_dir.exists()  # complete: the next run starts afresh
    return tmp / "pipeline"


def test_a_killed_run_resumes_and_exports_a_judged_pipeline(trained: Path) -> None:
    manifest = generator_manifest(trained)
    assert manifest["steps"] == 5 and manifest["examples_seen"] == 20
    assert manifest["objective"]["prediction_type"] == "v_prediction"  # the default objective
    # one prompt per category, short and long: every headline figure judged on its images
    assert manifest["figures"]["single/colour"][1] == 1 and manifest["figures"]["background"][1] == 4
    index = json.loads((trained / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and index["vae"] == ["diffusers", "AutoencoderTiny"]


def _latents(pipe, seed: int) -> np.ndarray:
    """The sampled latents (the untrained test VAE decodes most latents to the same image)."""
    out = pipe(
        "a red circle",
        num_inference_steps=3,
        guidance_scale=4.0,
        output_type="latent",
        generator=torch.Generator().manual_seed(seed),
    )
    return out.images.numpy()


def test_diffusers_alone_loads_the_pipeline_and_the_same_seed_gives_the_same_image(trained: Path) -> None:
    image = generate(load_pipeline(trained), ["a red circle"], seed=3, steps=3, guidance_scale=4.0)
    assert image.shape == (1, 64, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(image, generate(load_pipeline(trained), ["a red circle"], seed=3, steps=3))
    ours = _latents(load_pipeline(trained), 3)
    assert np.array_equal(ours, _latents(load_pipeline(trained), 3))
    assert not np.array_equal(ours, _latents(load_pipeline(trained), 4))
    assert not np.array_equal(ours, _latents(load_pipeline(trained, scheduler="euler"), 3))  # another sampler
    script = f"""
import sys, numpy as np, torch
from diffusers import DiffusionPipeline
pipe = DiffusionPipeline.from_pretrained({str(trained)!r})
out = pipe("a red circle", num_inference_steps=3, guidance_scale=4.0, output_type="latent",
           generator=torch.Generator().manual_seed(3)).images
assert not [m for m in sys.modules if m.split(".")[0] in ("components", "recap_dagster")]
np.save(sys.argv[1], out.numpy())
"""
    out = trained.parent / "plain.npy"
    done = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.array_equal(np.load(out), ours)


def test_the_pipeline_encodes_a_prompt_as_the_cache_did(trained: Path, encoder) -> None:
    pipe = load_pipeline(trained)
    embeddings, _ = pipe.encode_prompt("a red circle", "cpu", 1, False)
    assert embeddings.shape == (1, 8, 384)
    np.testing.assert_allclose(embeddings[0].detach().numpy(), encoder.encode(["a red circle"])[0], atol=1e-5)


def test_bad_generation_inputs_are_named(trained: Path, tmp_path: Path, tiny_vae, encoder) -> None:
    pipe = load_pipeline(trained)
    with pytest.raises(ValueError, match="guidance_scale must be >= 0, got -1"):
        generate(pipe, ["a red circle"], guidance_scale=-1.0)
    with pytest.raises(FileNotFoundError, match="no generator pipeline directory"):
        load_pipeline(tmp_path / "absent")
    with pytest.raises(ValueError, match="has no model_index.json"):
        load_pipeline(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text((trained / "model_index.json").read_text())
    with pytest.raises(
        ValueError, match=r"incomplete: missing \['vae', 'text_encoder', 'tokenizer', 'unet', 'scheduler'\]"
    ):
        load_pipeline(broken)
    wide = build_unet("tiny", sample_size=16, latent_channels=4, cross_attention_dim=512)
    with pytest.raises(ValueError, match="gives 384-wide token embeddings but the U-Net cross-attends to width 512"):
        assemble_pipeline(
            tiny_vae, encoder, wide, sampling_scheduler("ddim", dict(OBJECTIVES["epsilon"].scheduler().config))
        )
    with pytest.raises(ValueError, match="unknown scheduler 'plms'"):
        load_pipeline(trained, scheduler="plms")


def test_an_empty_prompt_generates_unconditionally(trained: Path) -> None:
    pipe = load_pipeline(trained)
    # "" is the dropped caption: guided and unguided predictions coincide, so guidance changes nothing
    guided = generate(pipe, [""], seed=5, steps=3, guidance_scale=7.0)
    unguided = generate(pipe, [""], seed=5, steps=3, guidance_scale=1.0)
    assert np.abs(guided.astype(int) - unguided.astype(int)).max() <= 1


def test_recap_generate_writes_the_image_and_names_bad_input(trained: Path, tmp_path: Path, capsys) -> None:
    from PIL import Image

    from recap_dagster.cli import main

    out = tmp_path / "img.png"
    # --no-upsample: the image of the prompt as written (tests/test_upsample_cli.py draws rewrites)
    argv = ["generate", "a red circle", "--pipeline", str(trained), "--out", str(out), "--steps", "2", "--no-upsample"]
    argv += ["--no-sign"]  # tests/test_generate_safety.py signs
    assert main(argv) == 0
    single = np.asarray(Image.open(out))
    assert single.shape == (64, 64, 3)
    pipe = load_pipeline(trained)
    # the CLI samples with the rescale the generator was judged with: its objective's (0.7)
    assert default_rescale(trained) == 0.7
    expected = generate(pipe, ["a red circle"], seed=0, steps=2, guidance_scale=4.0, guidance_rescale=0.7)
    assert np.array_equal(single, expected[0])
    two = tmp_path / "two.png"
    argv = ["generate", "", "--pipeline", str(trained), "--out", str(two), "--steps", "2", "--count", "2", "--no-sign"]
    assert main(argv) == 0
    assert np.asarray(Image.open(two)).shape == (64, 128, 3)  # side by side; "" is unconditional
    assert main(["generate", "x", "--pipeline", str(trained), "--out", str(out), "--guidance", "-1"]) == 2
    assert "--guidance must be >= 0, got -1.0" in capsys.readouterr().err
    assert main(["generate", "x", "--pipeline", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "no generator pipeline directory" in capsys.readouterr().err


def test_judging_generators_pairs_their_images(trained: Path, tmp_path: Path, capsys) -> None:
    """experiments/judge_generators.py: one pipeline under two labels draws the same images
    (the same prompts and seeds), so every paired comparison has no discordant image."""
    import runpy

    script = Path(__file__).resolve().parents[2] / "experiments" / "judge_generators.py"
    main = runpy.run_path(str(script), run_name="judge_generators")["main"]
    out = tmp_path / "judged.jsonl"
    main([f"a={trained}", f"b={trained}", "--prompts", "1", "--steps", "2", "--baseline", "b", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["a", "b"] and rows[0]["summary"] == rows[1]["summary"]
    assert rows[0]["trained_steps"] == 5  # from the pipeline's manifest: where plot_claim_curve.py puts it
    assert rows[0]["summary"]["background"][1] == 4 and rows[0]["summary"]["single/colour"][1] == 1
    against = rows[0]["against_baseline"]
    assert set(against) >= {"single/colour", "background", "two/both_present"} and rows[1]["against_baseline"] == {}
    assert all(c["only_this"] == c["only_baseline"] == 0 and c["p_value"] == 1.0 for c in against.values())
    table = capsys.readouterr().out
    assert "| figure | a | b |" in table and "| background |" in table
    with pytest.raises(SystemExit):
        main([f"a={trained}", "--baseline", "c"])
    assert "--baseline 'c' is none of the labels ['a']" in capsys.readouterr().err
