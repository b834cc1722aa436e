"""Episode sources: datasets and synthetic episodes, windows sampled on device, streaming from disk."""
