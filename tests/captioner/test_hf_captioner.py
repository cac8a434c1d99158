"""HFCaptioner on tiny random Hugging Face models the tests build and save: loading by path
(type tokens added, embeddings resized), the preprocessing rule, CocaModel-aligned logits
against HF's own loss, overfitting then greedy and beam decoding, per-row nucleus seeds,
save/load round trip, a BLIP model, and errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from components.captioner.decoding import GeneratedCaptions
from components.captioner.hf.captioner import CaptionOutput, HFCaptioner
from components.captioner.hf.preprocessing import ImageTransform
from components.captioner.hf.registry import SUPPORTED_MODEL_TYPES
from components.captioner.loss import CocaLoss, caption_loss

TEXTS = ["a red circle", "two blue squares on a gray background", "a small green triangle", "three crosses"]
N_POSITIONS = 40


def _plain_tokenizer() -> Tokenizer:
    """A byte-level BPE with <pad> and <eos> but no caption type tokens, as a foreign tokenizer would be."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=290,
        min_frequency=1,
        special_tokens=["<pad>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TEXTS * 4, trainer)
    return tokenizer


def _save_vision_encoder_decoder(directory: Path) -> None:
    """A ViT (64 px, 16 px patches) + GPT-2 decoder, 1 layer each, width 32, with its plain tokenizer."""
    from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig

    tokenizer = _plain_tokenizer()
    vocab, eos, pad = tokenizer.get_vocab_size(), tokenizer.token_to_id("<eos>"), tokenizer.token_to_id("<pad>")
    encoder = ViTConfig(
        image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    decoder = GPT2Config(
        vocab_size=vocab,
        n_positions=N_POSITIONS,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder))
    model.save_pretrained(directory)
    tokenizer.save(str(directory / "tokenizer.json"))


def _save_blip(directory: Path) -> None:
    from transformers import BlipConfig, BlipForConditionalGeneration

    tokenizer = _plain_tokenizer()
    vision = dict(
        image_size=32, patch_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    text = dict(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=N_POSITIONS,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=1,
        sep_token_id=1,
    )
    torch.manual_seed(0)
    BlipForConditionalGeneration(BlipConfig(vision_config=vision, text_config=text)).save_pretrained(directory)
    tokenizer.save(str(directory / "tokenizer.json"))


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("vit-gpt2")
    _save_vision_encoder_decoder(directory)
    return directory


@pytest.fixture
def captioner(hf_dir: Path) -> HFCaptioner:
    torch.manual_seed(0)  # the type tokens' new embedding rows are drawn at random
    return HFCaptioner.from_pretrained(hf_dir)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_loads_by_path_adding_type_tokens_and_resizing(hf_dir: Path, captioner: HFCaptioner) -> None:
    plain_vocab = Tokenizer.from_file(str(hf_dir / "tokenizer.json")).get_vocab_size()
    tokenizer = captioner.tokenizer
    assert tokenizer.vocab_size == plain_vocab + 2  # <short> and <long> added
    c = captioner.config
    assert (c.model_type, c.vocab_size, c.pad_token_id, c.context_length) == (
        "vision-encoder-decoder",
        plain_vocab + 2,
        tokenizer.pad_id,
        N_POSITIONS,
    )
    assert captioner.model.decoder.get_output_embeddings().weight.shape[0] == plain_vocab + 2
    assert not captioner.training
    # No processor saved: the encoder's 64 px at ViT's default mean = std = 0.5, i.e. [-1, 1].
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(captioner.pixel_values(x), x * 2 - 1)


def test_a_saved_image_processor_sets_the_preprocessing(hf_dir: Path, tmp_path: Path) -> None:
    directory = shutil.copytree(hf_dir, tmp_path / "with-processor")
    processor = {
        "do_resize": True,
        "size": {"shortest_edge": 72},
        "do_center_crop": True,
        "crop_size": {"height": 64, "width": 64},
        "do_normalize": True,
        "image_mean": [0.1, 0.2, 0.3],
        "image_std": [0.5, 0.25, 0.125],
        "do_rescale": True,
        "rescale_factor": 1 / 255,
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(processor))
    captioner = HFCaptioner.from_pretrained(directory)
    assert captioner.config.image == ImageTransform(
        size=(72, 72), crop=(64, 64), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125)
    )
    pixels = captioner.pixel_values(torch.full((1, 3, 64, 64), 0.6))  # resizing a constant image keeps it
    assert pixels.shape == (1, 3, 64, 64)
    torch.testing.assert_close(pixels[0, :, 0, 0], torch.tensor([1.0, 1.6, 2.4]))
    (directory / "preprocessor_config.json").write_text(json.dumps({**processor, "rescale_factor": 1.0}))
    with pytest.raises(ValueError, match="rescales by 1.0"):
        HFCaptioner.from_pretrained(directory)


def test_forward_aligns_logits_like_coca_and_matches_hf_loss(captioner: HFCaptioner, images: torch.Tensor) -> None:
    tok = captioner.tokenizer
    batch = tok.encode_batch(TEXTS[:2], "short", captioner.config.context_length)
    out = captioner(images, batch.tokens, batch.attention_mask)
    assert isinstance(out, CaptionOutput) and not out.has_contrastive and out.image_embeds is None
    assert out.logits.shape == (*batch.tokens.shape, captioner.config.vocab_size)
    # Known answer: HF's own loss, which shifts labels right behind the decoder start token.
    captioner.model.config.decoder_start_token_id = tok.type_id("short")
    labels = batch.tokens[:, 1:].masked_fill(~batch.attention_mask[:, 1:], -100)
    hf = captioner.model(pixel_values=captioner.pixel_values(images), labels=labels)
    ours = caption_loss(out.logits, batch.tokens, tok.pad_id)
    torch.testing.assert_close(ours, hf.loss, rtol=1e-5, atol=1e-6)
    loss = CocaLoss(contrastive_weight=0.0, caption_weight=2.0, pad_token_id=tok.pad_id)(out, batch.tokens)
    torch.testing.assert_close(loss.total, 2 * ours)
    # Any image size is resized to the encoder's.
    assert captioner(torch.rand(2, 3, 48, 48), batch.tokens).logits.shape == out.logits.shape


def test_overfits_one_batch_then_greedy_and_beam_write_its_captions(captioner: HFCaptioner) -> None:
    # Two rows of each type: the type token alone cannot tell the captions apart, the image must.
    tok = captioner.tokenizer
    images = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    kinds = ["short", "long", "long", "short"]
    batch = tok.encode_batch(TEXTS, kinds, captioner.config.context_length)
    loss_fn = CocaLoss(contrastive_weight=0.0, pad_token_id=tok.pad_id)
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(captioner.parameters(), lr=5e-3)
    captioner.train()
    losses = []
    for _ in range(100):  # exact from about step 40 on, for any image seed tried (0-4)
        loss = loss_fn(captioner(images, batch.tokens, batch.attention_mask), batch.tokens).total
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.05 * losses[0]
    captioner.eval()
    out = captioner.generate_captions(images, kinds, strategy="greedy", max_new_tokens=30)
    assert isinstance(out, GeneratedCaptions) and out.finished == [True] * 4
    assert [tok.decode(s) for s in out.sequences] == TEXTS
    assert all(lp > -1.0 for lp in out.logprobs)  # each caption is near-certain after overfitting
    beam = captioner.generate_captions(images, kinds, strategy="beam", num_beams=2, max_new_tokens=30)
    assert [tok.decode(s) for s in beam.sequences] == TEXTS


def test_logprobs_are_the_models_scores(captioner: HFCaptioner, images: torch.Tensor) -> None:
    out = captioner.generate_captions(images, "long", strategy="greedy", max_new_tokens=6)
    assert out.finished == [False, False] and [len(s) for s in out.sequences] == [6, 6]
    tokens = torch.tensor([[captioner.tokenizer.type_id("long"), *s] for s in out.sequences])
    logp = torch.log_softmax(captioner(images, tokens).logits.float(), dim=-1)
    # Greedy picks the argmax at every step, and logprobs sum those maxima.
    assert torch.equal(logp[:, :-1].argmax(-1), tokens[:, 1:])
    expected = logp[:, :-1].gather(2, tokens[:, 1:, None])[..., 0].sum(1)
    torch.testing.assert_close(torch.tensor(out.logprobs), expected, rtol=1e-5, atol=1e-5)


def test_nucleus_seeds_make_captions_independent_of_the_batch(captioner: HFCaptioner, images: torch.Tensor) -> None:
    kwargs = dict(strategy="nucleus", top_p=0.9, temperature=1.5, max_new_tokens=8)
    together = captioner.generate_captions(images, "short", seeds=[11, 22], **kwargs).sequences
    alone = [
        captioner.generate_captions(images[i : i + 1], "short", seeds=[s], **kwargs).sequences[0]
        for i, s in enumerate([11, 22])
    ]
    assert together == alone
    assert captioner.generate_captions(images, "short", seeds=[11, 22], **kwargs).sequences == together
    assert captioner.generate_captions(images, "short", seeds=[5, 6], **kwargs).sequences != together


def test_save_load_round_trip(captioner: HFCaptioner, images: torch.Tensor, tmp_path: Path) -> None:
    saved = captioner.save_pretrained(tmp_path / "captioner", extra={"stage": "finetune"})
    names = {p.name for p in saved.iterdir()}
    expected = {"model.safetensors", "config.json", "tokenizer.json", "caption_tokenizer.json", "hf_captioner.json"}
    assert expected <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pkl", ".pth"))]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert json.loads((saved / "hf_captioner.json").read_text())["extra"] == {"stage": "finetune"}
    loaded = HFCaptioner.from_pretrained(saved)
    assert loaded.config == captioner.config
    assert loaded.tokenizer.special_ids == captioner.tokenizer.special_ids
    tokens = captioner.tokenizer.encode_batch(TEXTS[:2], "long", 30).tokens
    torch.testing.assert_close(loaded(images, tokens).logits, captioner(images, tokens).logits, rtol=0, atol=0)
    with pytest.raises(FileExistsError, match="overwrite"):
        captioner.save_pretrained(saved)
    captioner.save_pretrained(saved, overwrite=True)


def test_blip_backend_trains_and_captions(tmp_path: Path) -> None:
    _save_blip(tmp_path / "blip")
    captioner = HFCaptioner.from_pretrained(tmp_path / "blip")
    assert captioner.config.model_type == "blip" and captioner.config.image.output_size == (32, 32)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    batch = captioner.tokenizer.encode_batch(TEXTS[:2], "short", captioner.config.context_length)
    out = captioner(images, batch.tokens, batch.attention_mask)
    assert out.logits.shape == (*batch.tokens.shape, captioner.config.vocab_size)
    kwargs = dict(strategy="nucleus", temperature=1.5, max_new_tokens=5)
    together = captioner.generate_captions(images, "long", seeds=[3, 4], **kwargs).sequences
    alone = [
        captioner.generate_captions(images[i : i + 1], "long", seeds=[s], **kwargs).sequences[0]
        for i, s in enumerate([3, 4])
    ]
    assert together == alone
    loaded = HFCaptioner.from_pretrained(captioner.save_pretrained(tmp_path / "saved"))
    torch.testing.assert_close(loaded(images, batch.tokens).logits, captioner(images, batch.tokens).logits)


def test_errors_name_the_offending_value(tmp_path: Path, captioner: HFCaptioner, images: torch.Tensor) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        HFCaptioner.from_pretrained(missing)
    from transformers import GPT2Config

    GPT2Config(n_layer=1).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ValueError, match="'gpt2'.*vision-encoder-decoder.*blip") as error:
        HFCaptioner.from_pretrained(tmp_path / "gpt2")
    assert all(t in str(error.value) for t in SUPPORTED_MODEL_TYPES)
    with pytest.raises(ValueError, match="training mode"):
        captioner.train().generate_captions(images, "short")
    captioner.eval()
    with pytest.raises(ValueError, match="'topk'"):
        captioner.generate_captions(images, "short", strategy="topk")
    with pytest.raises(ValueError, match="seeds has 1 entries for 2 images"):
        captioner.generate_captions(images, "short", seeds=[1], max_new_tokens=5)
    with pytest.raises(ValueError, match="max_new_tokens=40"):
        captioner.generate_captions(images, "short", max_new_tokens=40)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        captioner(images * 255, captioner.tokenizer.encode_batch(TEXTS[:2], "short", 30).tokens)
