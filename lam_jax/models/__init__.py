"""Network blocks and the latent action models (LAPO, LAOM, IDM), their augmentations, size reports
and the mapping of the reference's weights."""
