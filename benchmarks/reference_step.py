"""Times the reference's own training step (dunnolab/laom), run by benchmarks/bench_reference.py in a
Python with torch and torchvision (not a project dependency).

  python benchmarks/reference_step.py --reference=PATH --method=laom --sizes='{...}' --batch=32 \
      --steps=5 --precision=bf16

One full iteration of ``train_laom.py`` (augmentation of o_t, o_{t+k}, o_{t+1}; forward under
autocast when ``bf16``; EMA target; MSE; backward; fused Adam; schedule; EMA update; the three
probes with their own Adam) or of ``train_lapo.py`` (forward, pixel MSE, backward, Adam,
schedule, the latent probe), on random uint8 batches already in memory (the reference's loader
is not timed; ours samples on device inside its step). Prints one JSON line.
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from make_reference_fixtures import adam, import_augmentations, import_reference  # noqa: E402


def build(ref, method: str, s: dict):
    import torch

    shape = (3 * s["frame_stack"], s["image_size"], s["image_size"])
    common = dict(shape=shape, latent_act_dim=s["latent_dim"], encoder_scale=s["encoder_scale"],
                  encoder_channels=tuple(s["channels"]), encoder_num_res_blocks=s["num_res_blocks"])
    if method == "lapo":
        model = ref.nn.LAPO(**common)
        probes = {"latent": torch.nn.Linear(s["latent_dim"], s["action_dim"])}
    else:
        model = ref.nn.LAOM(act_head_dim=s["act_head_dim"], obs_head_dim=s["obs_head_dim"], encoder_dropout=0.0,
                            encoder_norm_out=False, **common)
        emb = 1
        for d in model.final_encoder_shape:
            emb *= d
        probes = {"state": torch.nn.Linear(emb, s["state_dim"]),
                  "latent": torch.nn.Linear(s["latent_dim"], s["action_dim"]),
                  "state_act": torch.nn.Linear(emb, s["action_dim"])}
    return model, probes


def step_fn(ref, method: str, s: dict, batch_size: int, bf16: bool):
    import copy

    import torch
    import torch.nn.functional as F

    model, probes = build(ref, method, s)
    opt, sched = adam(ref, model, 1e-4, 0.0, 10, 10_000)
    probe_opts = {k: torch.optim.Adam(p.parameters(), lr=1e-4) for k, p in probes.items()}
    target = copy.deepcopy(model) if method != "lapo" else None
    augmenter = import_augmentations().Augmenter(s["image_size"]) if s["augment"] else None
    g = torch.Generator().manual_seed(0)
    c, hw = 3 * s["frame_stack"], s["image_size"]

    def frames():
        return torch.randint(0, 256, (batch_size, hw, hw, c), generator=g, dtype=torch.uint8)

    raw = {k: frames() for k in ("obs", "next", "future")}
    actions = torch.randn(batch_size, s["action_dim"], generator=g)
    states = torch.randn(batch_size, s["state_dim"], generator=g)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def probe(name, x, y):
        with autocast():
            loss = F.mse_loss(probes[name](x.detach()), y)
        probe_opts[name].zero_grad(set_to_none=True)
        loss.backward()
        probe_opts[name].step()

    def step():
        obs, nxt, future = (ref.utils.normalize_img(raw[k].permute((0, 3, 1, 2))) for k in ("obs", "next", "future"))
        if augmenter is not None:
            obs, future, nxt = augmenter(obs), augmenter(future), augmenter(nxt)
        with autocast():
            if method == "lapo":
                pred, latent = model(obs, future)
                loss = F.mse_loss(pred, nxt)
            else:
                pred, latent, hidden = model(obs, future)
                with torch.no_grad():
                    tgt = target.encoder(nxt).flatten(1)
                loss = F.mse_loss(pred, tgt.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if target is not None:
            ref.utils.soft_update(target, model, tau=0.001)
            probe("state", hidden.flatten(1), states)
            probe("state_act", hidden.flatten(1), actions)
        probe("latent", latent, actions)

    return step


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True)
    p.add_argument("--method", choices=("laom", "lapo"), required=True)
    p.add_argument("--sizes", required=True, help="JSON: the model sizes (bench_reference.py passes ours)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    ref = import_reference(args.reference)
    step = step_fn(ref, args.method, json.loads(args.sizes), args.batch, args.precision == "bf16")
    for _ in range(2):  # warm-up: oneDNN picks and caches its kernels
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"ms_per_step": 1000 * statistics.median(times), "torch": torch.__version__,
                      "steps": args.steps}))


if __name__ == "__main__":
    main()
