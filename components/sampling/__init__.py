"""Decoding captions and images from trained models."""
