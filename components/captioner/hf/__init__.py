"""The transformers backend: a Hugging Face image-to-text model as a `Captioner`, one adapter per architecture."""
