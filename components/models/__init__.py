"""Model architectures (plain torch), their configs, losses and checkpoints."""
