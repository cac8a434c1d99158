"""The rewriter's two architectures (the preset's `architecture`): the tiny seq2seq recipe
trains, saves, reloads with from_pretrained and writes its known answer, and samples varied
rewrites when hot; its loss is on the rewrite alone; the causal path writes, for a fixed seed,
exactly what it wrote before the seq2seq one existed; and the backends, the chat server, the
registered model and the CLI take a saved seq2seq rewriter as they take a causal one."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from components.upsampling import check_intent
from components.upsampling.backends import RewriterSettings, open_upsampler
from components.upsampling.causal_lm import CausalLMRewriter
from components.upsampling.chat_server import serve_chat_completions
from components.upsampling.checkpoint import read_upsampler_manifest
from components.upsampling.model import ASSISTANT, new_model, preset_architecture, preset_context, train_tokenizer
from components.upsampling.openai_chat import OpenAIChatRewriter
from components.upsampling.train.data import IGNORE, EncodedPairs
from components.upsampling.train.pairs import CaptionPair
from components.upsampling.train.recipe import resolve_upsampler_recipe
from components.upsampling.train.stage import train_upsampler
from tests.upsampling.saved_upsampler import PAIRS, save_tiny_upsampler
from tests.upsampling.test_train import write_curated

PROMPT, REWRITE = PAIRS[0]
PRESETS = ("tiny", "tiny_seq2seq")

# The causal path's known answer, recorded at commit 13d9b66 before the seq2seq architecture
# existed: the tiny recipe below trained 12 steps on PAIRS, then the rewriter that
# open_upsampler(seed=0) opens, called twice on "a red circle", then rewrite_many("a blue square", 3).
CAUSAL_ONE = ["gidddiidlemggle a plain", "mm reAm"]
CAUSAL_MANY = ["Apnd in ther  ritoe", "Aclelmgmdddgg background background theeit", "mclermr rlettt in in toe"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Models of 60k parameters train and sample faster on one thread than on two busy ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def curated_shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_curated(tmp_path_factory.mktemp("curated") / "00000.tar", [(s, lg, "train") for s, lg in PAIRS])


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each tiny preset trained on PAIRS until it writes them, saved as the asset saves it. The
    one-layer T5 is trained gentler and longer: at lr 1e-2 it stalls at even odds between the
    two d's of "middle" (loss 0.11; 0.016 after 200 steps at 5e-3)."""
    return {
        "tiny": save_tiny_upsampler(tmp_path_factory.mktemp("tiny") / "upsampler"),
        "tiny_seq2seq": save_tiny_upsampler(
            tmp_path_factory.mktemp("tiny_seq2seq") / "upsampler", preset="tiny_seq2seq", lr=5e-3, steps=250
        ),
    }


def test_the_presets_state_their_architecture_and_context() -> None:
    assert [preset_architecture(p) for p in ("small", "tiny", "small_seq2seq", "tiny_seq2seq")] == [
        "causal",
        "causal",
        "seq2seq",
        "seq2seq",
    ]
    assert preset_context("small") == preset_context("small_seq2seq") == 256
    tokenizer = train_tokenizer([f"{s} {lg}" for s, lg in PAIRS], vocab_size=300)
    counts = {p: sum(w.numel() for w in new_model(p, tokenizer).parameters()) for p in PRESETS}
    assert counts == {"tiny": 60_352, "tiny_seq2seq": 60_944}  # as the presets' comments say
    with pytest.raises(ValueError, match="unknown upsampler preset 'medium_seq2seq'"):
        preset_architecture("medium_seq2seq")


def test_the_causal_rewriter_writes_what_it_wrote_before(tmp_path: Path, curated_shard: Path) -> None:
    recipe = resolve_upsampler_recipe(
        "quick",
        {
            "preset": "tiny",
            "vocab_size": 300,
            "max_steps": 12,
            "max_minutes": None,
            "batch_size": 3,
            "optimizer.lr": 1e-2,
            "optimizer.warmup_steps": 2,
            "max_new_tokens": 16,
            "keep_prompt": False,  # the texts below were written from the model's first token
            "progress_bar": False,
        },
    )
    out = tmp_path / "upsampler"
    train_upsampler(recipe, curated_shards=[curated_shard], work_dir=tmp_path / "work", out_dir=out)
    assert json.loads((out / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    rewriter = open_upsampler(RewriterSettings(model=str(out), seed=0)).rewriter
    assert [rewriter(PROMPT) for _ in range(2)] == CAUSAL_ONE
    assert rewriter.rewrite_many("a blue square", 3) == CAUSAL_MANY


def test_the_tiny_seq2seq_recipe_trains_saves_reloads_and_samples(tmp_path: Path, curated_shard: Path) -> None:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    recipe = resolve_upsampler_recipe(
        "quick",
        {
            "preset": "tiny_seq2seq",
            "vocab_size": 300,
            "max_steps": 200,
            "max_minutes": None,
            "batch_size": 3,
            "augmented": False,
            "optimizer.lr": 5e-3,  # see `saved`
            "optimizer.warmup_steps": 5,
            "temperature": 0.3,
            "keep_prompt": False,  # the known answer below is the learnt caption from its first word
            "progress_bar": False,
        },
    )
    out = tmp_path / "upsampler"
    result = train_upsampler(recipe, curated_shards=[curated_shard], work_dir=tmp_path / "work", out_dir=out)
    assert result.fit.steps == 200 and read_upsampler_manifest(out)["preset"] == "tiny_seq2seq"
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["T5ForConditionalGeneration"]
    assert config["decoder_start_token_id"] == AutoTokenizer.from_pretrained(out).convert_tokens_to_ids(ASSISTANT)
    _, loading = AutoModelForSeq2SeqLM.from_pretrained(out, output_loading_info=True)
    assert not any(loading.values())  # every weight saved, none left over

    upsampler = open_upsampler(RewriterSettings(model=str(out), seed=0))
    rewrite = upsampler.upsample(PROMPT)
    assert (rewrite.text, rewrite.used_fallback) == (REWRITE, False) and check_intent(PROMPT, rewrite.text).passed
    assert [upsampler.rewriter(short) for short, _ in PAIRS[1:]] == [long for _, long in PAIRS[1:]]
    hot = CausalLMRewriter(out, temperature=2.0, top_p=1.0, seed=0, max_new_tokens=24)
    texts = hot.rewrite_many(PROMPT, 4)
    assert len(set(texts)) > 1  # sampled: one prompt, varied rewrites
    assert texts == hot.reseeded(0).rewrite_many(PROMPT, 4)  # and reproducible for a seed


def test_a_saved_seq2seq_model_reloads_to_the_same_outputs(tmp_path: Path) -> None:
    from transformers import AutoModelForSeq2SeqLM

    tokenizer = train_tokenizer([f"{s} {lg}" for s, lg in PAIRS], vocab_size=300)
    model = new_model("tiny_seq2seq", tokenizer, seed=0).eval()
    data = EncodedPairs([CaptionPair(s, lg, "curated") for s, lg in PAIRS], tokenizer, 256, seq2seq=True)
    batch = data.collate([data[i] for i in range(len(data))])
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    with torch.inference_mode():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)


def test_the_seq2seq_batch_reads_the_prompt_and_learns_the_rewrite_alone() -> None:
    import torch.nn.functional as F

    tokenizer = train_tokenizer([f"{s} {lg}" for s, lg in PAIRS], vocab_size=300)
    pairs = [CaptionPair(s, lg, "curated") for s, lg in PAIRS[:2]]
    data = EncodedPairs(pairs, tokenizer, 256, seq2seq=True)
    batch = data.collate([data[0], data[1]])
    sources = [
        tokenizer.decode(ids[mask.bool()])
        for ids, mask in zip(batch["input_ids"], batch["attention_mask"], strict=True)
    ]
    targets = [tokenizer.decode(labels[labels != IGNORE]) for labels in batch["labels"]]
    assert sources == [f"<short>{s}<long>" for s, _ in PAIRS[:2]]  # the encoder reads the prompt
    assert targets == [f"{lg}<eos>" for _, lg in PAIRS[:2]]  # the decoder learns the rewrite
    lengths = (batch["labels"] != IGNORE).sum(dim=1).tolist()
    shorter = lengths.index(min(lengths))  # its rewrite padded with IGNORE up to the other's
    assert min(lengths) < max(lengths) == batch["labels"].shape[1]
    assert (batch["labels"][shorter, min(lengths) :] == IGNORE).all()

    model = new_model("tiny_seq2seq", tokenizer, seed=0)
    output = model(**batch)
    assert output.logits.shape[:2] == batch["labels"].shape  # one prediction per rewrite token, none for the prompt
    by_hand = F.cross_entropy(output.logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)
    assert torch.allclose(output.loss, by_hand)
    decoder_input = model.prepare_decoder_input_ids_from_labels(batch["labels"])
    assert (decoder_input[:, 0] == tokenizer.convert_tokens_to_ids(ASSISTANT)).all()  # started from <long>

    causal = EncodedPairs(pairs, tokenizer, 256).collate([data[0]])  # the same row, causally: prompt masked
    prompt_length = data[0][1]
    assert (causal["labels"][0, :prompt_length] == IGNORE).all()
    assert causal["labels"][0, prompt_length:].tolist() == batch["labels"][0][batch["labels"][0] != IGNORE].tolist()


def test_seq2seq_rows_cut_each_side_to_the_context() -> None:
    tokenizer = train_tokenizer([f"{s} {lg}" for s, lg in PAIRS], vocab_size=300)
    fits, too_long = CaptionPair("a red circle", REWRITE, "curated"), CaptionPair(" ".join(["red"] * 12), "A.", "x")
    context = len(tokenizer(f"<short>{fits.short}<long>")["input_ids"])  # the prompt just fits
    data = EncodedPairs([fits, too_long], tokenizer, context, seq2seq=True)
    assert data.pairs == [fits]  # a prompt the encoder cannot read whole is left out
    ids, prompt_length = data[0]
    assert prompt_length == context and len(ids) == 2 * context  # the rewrite cut to the context
    assert tokenizer.eos_token_id not in ids  # a cut rewrite never learns to stop
    with pytest.raises(ValueError, match="fills the rewriter's"):  # a causal model has no room left to write
        EncodedPairs([fits, too_long], tokenizer, context)


# ---------------------------------------------------------------- where users meet it


@pytest.mark.parametrize("preset", PRESETS)
def test_the_backends_take_either_architecture_alike(saved: dict[str, Path], preset: str) -> None:
    from recap_dagster.serving.upsampler_model import UpsamplerModel

    directory = saved[preset]
    upsampler = open_upsampler(RewriterSettings(model=str(directory), seed=0))
    assert upsampler.name == f"local: {directory}" and upsampler.tries == 3  # the manifest's
    assert [r.text for r in upsampler.upsample_many(PROMPT, 2)] == [REWRITE] * 2
    rewriter = upsampler.rewriter
    assert isinstance(rewriter, CausalLMRewriter)  # one backend class; the saved config picks the Auto class
    assert rewriter.encoder_decoder is (preset_architecture(preset) == "seq2seq")
    assert rewriter.prompt_fits(PROMPT) and not rewriter.prompt_fits(" ".join(["circle"] * 300))
    assert upsampler.upsample(" ".join(["circle"] * 300)).note.endswith("longer than the rewriter's context")

    with serve_chat_completions(rewriter, "upsampler") as running:  # over real HTTP
        assert OpenAIChatRewriter(running.base_url, "upsampler", temperature=0.1, max_tokens=40)(PROMPT) == REWRITE

    registered = UpsamplerModel()  # as MLflow loads recap-upsampler
    context: Any = SimpleNamespace(artifacts={"upsampler": str(directory)}, model_config={"device": "cpu"})
    registered.load_context(context)
    served = registered.predict(None, pd.DataFrame({"prompt": [PROMPT]}), params={"n": 2, "seed": 5})
    assert list(served["rewrite"]) == [REWRITE] * 2 and list(served["used_fallback"]) == [False, False]


def test_recap_upsample_and_generate_take_a_seq2seq_rewriter(saved: dict[str, Path], tmp_path: Path, capsys) -> None:
    from components.generator.pipeline import generate, load_pipeline
    from recap_dagster.cli import main
    from tests.generator.saved_pipeline import save_tiny_pipeline

    directory = saved["tiny_seq2seq"]
    assert main(["upsample", PROMPT, "-n", "2", "--model", str(directory), "--seed", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[::2] == [f"1. {REWRITE}", f"2. {REWRITE}"]

    pipeline_dir = save_tiny_pipeline(tmp_path / "generator")
    out = tmp_path / "img.png"
    argv = ["generate", PROMPT, "--pipeline", str(pipeline_dir), "--out", str(out), "--steps", "2", "--seed", "3"]
    assert main([*argv, "--model", str(directory), "--no-sign"]) == 0
    assert f"drawing from:\n  {REWRITE}\n" in capsys.readouterr().err
    drawn = generate(load_pipeline(pipeline_dir), [REWRITE], seed=3, steps=2, guidance_scale=4.0, guidance_rescale=0.0)
    assert np.array_equal(np.asarray(Image.open(out)), drawn[0])
