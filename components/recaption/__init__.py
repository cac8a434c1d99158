"""Recaptioning at scale: the batched caption engine, the shard stream that feeds it, and
the sidecar parquets it writes (one per web shard, keys equal to the shard's keys)."""
