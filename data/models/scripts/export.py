# SPDX-License-Identifier: GPL-3.0-or-later
"""Exports the trained built-in model to data/models/huabu-shapes.safetensors.

Takes the VAE from WORK/vae.pt and the EMA weights of the text encoder and UNet
from WORK/unet.pt (see train.py), stores them as F16 with the ldm single-file
key names and the metadata the engine reads, then draws a sample grid with the
PyTorch reference sampler (Euler a, 20 steps) for the model card.

Usage: /usr/bin/python3 export.py [--work DIR] [--grid N] [--cfg 4] [--sampler Euler] [--out FILE]
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
MODELS = os.path.join(ROOT, "data", "models")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, HERE)

import sd_reference as ref  # noqa: E402
import shapes_dataset  # noqa: E402
from train import model_config  # noqa: E402

NAME = "huabu-shapes.safetensors"


def latent_rgb_factors(cache, scale, n=512):
    """Least-squares latent->RGB map for the live preview: the engine shows
    M^T z + b (z: the scaled latent, RGB in -1..1) for each latent pixel.
    Fitted on the cached scenes, re-rendered (the cache's stream is seeded)
    and averaged over each 8x8 block."""
    from train import render_batch, SEED
    zs, rgbs = [], []
    for i in range(0, n, 32):
        x, _ = render_batch(SEED + 2_000_000 + i, 32)
        rgbs.append(torch.nn.functional.avg_pool2d(x, 8))
        zs.append(cache["mean"][i:i + 32].float() * scale)
    z = torch.cat(zs).permute(0, 2, 3, 1).reshape(-1, 4)
    rgb = torch.cat(rgbs).permute(0, 2, 3, 1).reshape(-1, 3)
    a = torch.cat([z, torch.ones(z.shape[0], 1)], dim=1).double()
    sol = torch.linalg.lstsq(a, rgb.double()).solution  # [5, 3]: 4 rows of M, then b
    err = (a @ sol - rgb.double()).abs().mean().item()
    return [float(v) for v in sol[:4].flatten()] + [float(v) for v in sol[4]], err


def export(work, out_path, cfg_scale, sampler):
    vae = torch.load(os.path.join(work, "vae.pt"))
    unet = torch.load(os.path.join(work, "unet.pt"))
    cache = torch.load(os.path.join(work, "latents.pt"))
    tok = ref.ClipTokenizer.from_files(os.path.join(MODELS, "vocab.json"),
                                       os.path.join(MODELS, "merges.txt"))
    cfg = model_config(len(tok.encoder))
    sd = dict(vae["sd"])
    sd.update(unet["ema"])
    expected = set(ref.family_shapes(cfg))
    if set(sd) != expected:
        raise SystemExit(f"checkpoint keys differ from the model config: {sorted(set(sd) ^ expected)[:5]}")
    scale = cache["scale"] * unet.get("latent_scale", 1.0)
    rgb, rgb_err = latent_rgb_factors(cache, scale)
    print(f"latent->RGB preview factors: mean abs error {rgb_err:.3f} (RGB in -1..1)")
    meta = {
        "huabu.resolution": "128",
        "huabu.latent_rgb": ",".join(f"{v:.5f}" for v in rgb),
        "huabu.text_heads": cfg.text_heads,
        "huabu.unet_heads": cfg.unet_heads,
        "huabu.unet_norm_groups": cfg.unet_norm_groups,
        "huabu.vae_norm_groups": cfg.vae_norm_groups,
        "huabu.unet_coord_channels": cfg.unet_coord_channels,
        "huabu.vae_scale_factor": f"{scale:.6f}",
        "huabu.prediction_type": "epsilon",
        # The guidance the held-out figures were measured at; huabu-cli and
        # the app use it for this model unless told otherwise.
        "huabu.cfg_scale": f"{cfg_scale:g}",
        # The sampler the app and huabu-cli pick for it unless told otherwise
        # (the built-in model, step 94 937, CFG 4: Euler 96.7 % of held-out
        # attributes and 91.0 % of img2img sketches; Euler a 95.9 and 88.0).
        "huabu.sampler": sampler,
        "huabu.vae_steps": vae["step"],
        "huabu.unet_steps": unet["step"],
        "huabu.name": "Huabu Shapes",
        "huabu.license": "GPL-3.0-or-later",
    }
    ref.save_safetensors(out_path, sd, meta, dtype=np.float16)
    return vae["step"], unet["step"], scale


def grid_prompts(n):
    """Half held-out prompts (colour x shape pairs never trained on), half
    training-distribution scenes, fixed."""
    held = shapes_dataset.heldout_prompts()
    rng = np.random.default_rng(99)
    prompts = []
    for i in range(n):
        if i % 2 == 0:
            prompts.append((held[i]["prompt"], held[i]["seed"]))
        else:
            scene = shapes_dataset.random_scene(rng)
            prompts.append((shapes_dataset.canonical_caption(scene), 2000 + i))
    return prompts


def draw_grid(model_path, path, side, cfg_scale):
    tok = ref.ClipTokenizer.from_files(os.path.join(MODELS, "vocab.json"),
                                       os.path.join(MODELS, "merges.txt"))
    model = ref.Model.load(model_path, tok)
    prompts = grid_prompts(side * side)
    cell = 128
    label = 40
    grid = Image.new("RGB", (side * cell, side * (cell + label)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for i, (prompt, seed) in enumerate(prompts):
        img, _ = ref.generate(model, prompt, "", seed, 20, cfg_scale, "euler_a", "discrete", 128, 128)
        x, y = (i % side) * cell, (i // side) * (cell + label)
        grid.paste(Image.fromarray(img), (x, y))
        words = prompt.split()
        lines, line = [], ""
        for w in words:
            if len(line) + len(w) + 1 > 24:
                lines.append(line)
                line = w
            else:
                line = (line + " " + w).strip()
        lines.append(line)
        for j, text in enumerate(lines[:4]):
            draw.text((x + 2, y + cell + j * 10), text, fill=(0, 0, 0))
    grid.save(path)
    return prompts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.path.join(MODELS, "training-work"))
    ap.add_argument("--grid", type=int, default=4, help="grid side (0: no grid)")
    ap.add_argument("--cfg", type=float, default=4.0,
                    help="the guidance the model is meant for: written into its metadata "
                         "(huabu.cfg_scale) and used for the sample grid")
    ap.add_argument("--sampler", default="Euler",
                    help="the sampler the model is meant for (huabu.sampler, a huabu-cli name)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(MODELS, NAME),
                    help="model file (the sample grid goes beside it)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out
    vae_steps, unet_steps, scale = export(args.work, out, args.cfg, args.sampler)
    print(f"wrote {out}: VAE {vae_steps} steps, UNet {unet_steps} steps, scale {scale:.5f}, "
          f"{os.path.getsize(out) / 1e6:.1f} MB")
    if args.grid:
        folder = os.path.dirname(os.path.abspath(out))
        prompts = draw_grid(out, os.path.join(folder, "samples.png"), args.grid, args.cfg)
        with open(os.path.join(folder, "samples.json"), "w") as f:
            json.dump([{"prompt": p, "seed": s} for p, s in prompts], f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
