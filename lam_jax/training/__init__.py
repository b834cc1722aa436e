"""The jitted training loops, optimisers, checkpoints, run folders and metric writers."""
