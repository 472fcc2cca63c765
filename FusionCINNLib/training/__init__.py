"""Training FusionCINN on registered pairs: data, losses, checkpoints, the Trainer."""
