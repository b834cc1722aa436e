"""Parameter counts without allocating anything (``nnx.eval_shape``)."""
from __future__ import annotations

import jax
from flax import nnx

from lam_jax.models import lams


def module_rows(model) -> list[tuple[str, str, int, bool]]:
    """(name, class, parameters, counted) per top-level sub-module of ``model``."""
    rows = []
    for name, value in vars(model).items():
        if isinstance(value, nnx.Module):
            params = sum(int(x.size) for x in jax.tree.leaves(nnx.state(value, nnx.Param)))
            rows.append((name, type(value).__name__, params, name not in lams.NOT_COUNTED))
    return rows


def abstract_lam(cfg, image_size: int = 64, frame_stack: int | None = None, action_dim: int = 6, state_dim: int = 17):
    return nnx.eval_shape(lambda: lams.make_model(cfg.model, image_size=image_size,
                                                  frame_stack=frame_stack or cfg.frame_stack,
                                                  action_dim=action_dim, state_dim=state_dim))


def abstract_actor(dcfg, latent_dim: int, frame_stack: int = 3):
    from lam_jax.models.policy_nets import Actor
    return nnx.eval_shape(lambda: Actor(frame_stack, latent_dim, dcfg.bc.encoder_scale, dcfg.bc.encoder_num_res_blocks,
                                        dtype=lams.DTYPES[dcfg.dtype], rngs=nnx.Rngs(0)))
