"""lam-jax: latent action models (LAPO, LAOM, LAOM+supervision, IDM) in JAX/Flax NNX."""
