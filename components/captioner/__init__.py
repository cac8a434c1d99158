"""The captioner: CoCa and the transformers backend (hf/), their decoding and checkpoints; train/ fine-tunes them."""
