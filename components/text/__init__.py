"""Caption tokenization."""
