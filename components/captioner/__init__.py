"""The captioner: CoCa and the transformers backend, their decoding and checkpoints; train/ fine-tunes them."""
