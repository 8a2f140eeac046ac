# SPDX-License-Identifier: GPL-3.0-or-later
"""How much a UNet checkpoint hedges where to draw: for cached training
scenes and their captions, noised to step t, the model's own estimate of
the clean latent, x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar), and the
share of latent pixels where that estimate draws an object (by the test
train.object_weights uses, one pixel around included) where the scene has
none. A model that has bound the caption's place words draws its objects
where the caption puts them; one that has not draws them in several places
at once, more so the noisier the step.

Usage: /usr/bin/python3 hedge.py WORK [--checkpoint unet.pt] [--n 32]
(WORK holds latents.pt and unet.pt, as train.py leaves them; the EMA
weights are read, and the latents scaled by the checkpoint's latent scale.)
"""
import argparse
import os

import numpy as np
import torch

import train

STEPS = (150, 300, 500, 700, 850)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--checkpoint", default="unet.pt")
    ap.add_argument("--n", type=int, default=32, help="number of scenes")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ref = train.ref
    models = os.path.join(train.ROOT, "data", "models")
    tok = ref.ClipTokenizer.from_files(os.path.join(models, "vocab.json"),
                                       os.path.join(models, "merges.txt"))
    meta = train.model_meta(train.model_config(len(tok.encoder)))
    cache = torch.load(os.path.join(args.work, "latents.pt"))
    state = torch.load(os.path.join(args.work, args.checkpoint))
    g = torch.Generator().manual_seed(train.SEED)
    rng = np.random.default_rng(train.SEED)
    idx = torch.randint(0, cache["mean"].shape[0], (args.n,), generator=g)
    z = cache["mean"][idx].float() * cache["scale"] * state.get("latent_scale", 1.0)
    captions = [train.shapes_dataset.caption(cache["scenes"][i], rng) for i in idx.tolist()]
    ids = torch.tensor([tok(c) for c in captions], dtype=torch.int32)
    scene = train.object_weights(z, 1.0) > 1
    ac = ref.alphas_cumprod()
    print(f"{args.work}/{args.checkpoint}, UNet step {state['step']}, {args.n} scenes: "
          f"objects (one pixel around included) cover {scene.float().mean():.1%}")
    with torch.no_grad():
        ctx = ref.text_encode(state["ema"], meta, ids)
        for step in STEPS:
            t = torch.full((args.n,), step)
            a = ac[t][:, None, None, None]
            xt = train.noised(z, torch.randn(z.shape, generator=g), a)
            eps = ref.unet_forward(state["ema"], meta, xt, t.float(), ctx)
            drawn = train.object_weights(z, 1.0, train.clean_estimate(xt, eps, a)) > 1
            print(f"t {step}: drawn where the scene has none {(drawn & ~scene).float().mean():.1%}")


if __name__ == "__main__":
    main()
