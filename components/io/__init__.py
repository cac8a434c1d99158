"""Atomic writes and content hashes, shared by every artifact writer."""
