# SPDX-License-Identifier: GPL-3.0-or-later
"""Deterministic detector and benchmark for the built-in shapes model.

The detector reads a 128x128 picture and reports the background colour and,
for each object, its colour, shape, size and place:
  background  median of the border pixels, nearest named background colour
  objects     connected regions that differ from the background (the two
              largest of at least MIN_AREA pixels)
  colour      median of the region's inner pixels, nearest named colour
  place       the region's centroid, nearest of the nine places
  size        the larger side of its bounding box against a threshold
  shape       the best intersection-over-union with each shape's outline,
              fitted to the region's centroid and area, at a few rotations

Commands:
  selftest [N]            detector accuracy on N rendered ground-truth scenes
  score PROMPTS DIR       attribute accuracy of generated pictures DIR/NNNN.png
                          for the prompts of PROMPTS (shapes_dataset --heldout)
  reference MODEL PROMPTS DIR [--n N]
                          generate the prompts with the PyTorch reference
                          (Euler a, 20 steps, CFG 4, each prompt's seed) into
                          DIR/NNNN.png, then score them
  vae MODEL PROMPTS [--n N]
                          the prompts' scenes rendered and sent through the
                          model's VAE alone (encode, decode), scored: the
                          ceiling the VAE sets for any UNet
  engine PROMPTS DIR [--cli huabu-cli] [--model M] [--n N] [--cfg 4] [--rng CPU]
                          the same with the Huabu engine (huabu-cli generate
                          --batch); entries with "init" run img2img at their
                          "strength" (sketches made by shapes_dataset.py
                          --sketches) and are also scored per sketch: the
                          prompt's shape, colour and place all found
  psnr DIR_A DIR_B        PSNR between same-named pictures of two folders
  detect PNG...           print what the detector sees
"""

import argparse
import collections
import json
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import shapes_dataset as sd  # noqa: E402

SIZE = sd.SIZE
MIN_AREA = 40
FG_DISTANCE = 60.0
# Bounding-box side (pixels) between small and large, for one and two objects.
SIZE_SPLIT = {1: 0.344 * SIZE, 2: 0.275 * SIZE}
ANGLES = (-0.15, 0.0, 0.15)


def _nearest(rgb, table):
    names = list(table)
    d = [np.linalg.norm(np.asarray(rgb, float) - np.asarray(table[n], float)) for n in names]
    return names[int(np.argmin(d))]


def _components(mask):
    """4-connected regions of a boolean mask, as lists of (y, x), largest first."""
    seen = np.zeros_like(mask, dtype=bool)
    regions = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        stack = [(y0, x0)]
        seen[y0, x0] = True
        pixels = []
        while stack:
            y, x = stack.pop()
            pixels.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] \
                        and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        regions.append(pixels)
    regions.sort(key=len, reverse=True)
    return regions


def _template_geometry(shape):
    """Area and area centroid of a shape's unit outline (shoelace formula)."""
    p = sd._polygon(shape)
    x, y = p[:, 0], p[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = cross.sum() / 2
    cx = ((x + xn) * cross).sum() / (6 * area)
    cy = ((y + yn) * cross).sum() / (6 * area)
    return p, abs(area), cx, cy


TEMPLATES = {s: _template_geometry(s) for s in sd.SHAPES}


def _shape_of(region_mask, cy, cx, area):
    ys, xs = np.nonzero(region_mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    pad = 8
    y0, x0 = max(0, y0 - pad), max(0, x0 - pad)
    y1, x1 = min(SIZE, y1 + pad), min(SIZE, x1 + pad)
    target = region_mask[y0:y1, x0:x1]
    best, best_iou = None, -1.0
    for shape, (poly, unit_area, tcx, tcy) in TEMPLATES.items():
        r = math.sqrt(area / unit_area)
        for a in ANGLES:
            rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            p = (poly - [tcx, tcy]) @ rot.T * r + [cx + 0.5 - x0, cy + 0.5 - y0]
            img = Image.new("1", (x1 - x0, y1 - y0), 0)
            ImageDraw.Draw(img).polygon([tuple(q) for q in p], fill=1)
            t = np.asarray(img, dtype=bool)
            iou = (t & target).sum() / max(1, (t | target).sum())
            if iou > best_iou:
                best, best_iou = shape, iou
    return best


def detect(rgb):
    """rgb uint8 [128, 128, 3] -> {"background": name, "objects": [...]}."""
    img = np.asarray(rgb, dtype=float)
    border = np.concatenate([img[:3].reshape(-1, 3), img[-3:].reshape(-1, 3),
                             img[:, :3].reshape(-1, 3), img[:, -3:].reshape(-1, 3)])
    bg_rgb = np.median(border, axis=0)
    background = _nearest(bg_rgb, sd.BACKGROUNDS)
    fg = np.linalg.norm(img - bg_rgb, axis=2) > FG_DISTANCE
    regions = [r for r in _components(fg) if len(r) >= MIN_AREA][:2]
    objects = []
    for pixels in regions:
        ys = np.array([p[0] for p in pixels])
        xs = np.array([p[1] for p in pixels])
        mask = np.zeros(fg.shape, dtype=bool)
        mask[ys, xs] = True
        # Inner pixels only: outlines and anti-aliased edges mix colours.
        inner = mask.copy()
        inner[1:] &= mask[:-1]
        inner[:-1] &= mask[1:]
        inner[:, 1:] &= mask[:, :-1]
        inner[:, :-1] &= mask[:, 1:]
        pick = inner if inner.sum() >= 10 else mask
        colour = _nearest(np.median(img[pick], axis=0), sd.COLOURS)
        cy, cx = ys.mean(), xs.mean()
        place = min(sd.PLACES, key=lambda p: (sd.PLACES[p][0] * SIZE - cx - 0.5) ** 2
                    + (sd.PLACES[p][1] * SIZE - cy - 0.5) ** 2)
        side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
        objects.append({"colour": colour, "shape": _shape_of(mask, cy, cx, len(pixels)),
                        "place": place, "side": int(side)})
    for o in objects:
        o["size"] = "large" if o.pop("side") > SIZE_SPLIT[max(1, len(objects))] else "small"
    return {"background": background, "objects": objects}


def compare(scene, found):
    """Per-attribute hits for one picture: {kind: (correct, total)}. Objects
    are matched by place (each expected object to the detected one nearest to
    its place); a missing object counts all its attributes wrong."""
    hits = collections.defaultdict(lambda: [0, 0])
    hits["background"][1] += 1
    hits["background"][0] += scene["background"] == found["background"]
    hits["count"][1] += 1
    hits["count"][0] += len(scene["objects"]) == len(found["objects"])
    free = list(found["objects"])
    for o in scene["objects"]:
        match = None
        if free:
            px, py = sd.PLACES[o["place"]]
            match = min(free, key=lambda f: (sd.PLACES[f["place"]][0] - px) ** 2
                        + (sd.PLACES[f["place"]][1] - py) ** 2)
            free.remove(match)
        for kind in ("colour", "shape", "size", "place"):
            hits[kind][1] += 1
            hits[kind][0] += bool(match) and match[kind] == o[kind]
    return hits


def report(total):
    correct = sum(c for c, _ in total.values())
    count = sum(n for _, n in total.values())
    print(f"all attributes: {correct}/{count} = {100 * correct / count:.1f}%")
    for kind, (c, n) in sorted(total.items()):
        print(f"  {kind:10s} {c}/{n} = {100 * c / n:.1f}%")
    return correct / count


def _add(total, hits):
    for k, (c, n) in hits.items():
        total[k][0] += c
        total[k][1] += n


def selftest(n):
    rng = np.random.default_rng(4321)
    total = collections.defaultdict(lambda: [0, 0])
    for i in range(n):
        scene = sd.random_scene(rng, heldout=bool(i % 2))
        img = sd.render(scene, rng, hand_drawn=bool(i % 3 == 0))
        hits = compare(scene, detect(img))
        _add(total, hits)
        if any(c != t for c, t in hits.values()):
            print("miss:", sd.canonical_caption(scene), "->", detect(img))
    return report(total)


def score(prompts_path, folder, n=None):
    with open(prompts_path) as f:
        prompts = json.load(f)["prompts"][:n]
    total = collections.defaultdict(lambda: [0, 0])
    sketch_ok = 0
    for i, p in enumerate(prompts):
        pic = Image.open(os.path.join(folder, f"{i:04d}.png")).convert("RGB")
        if pic.size != (SIZE, SIZE):
            pic = pic.resize((SIZE, SIZE), Image.BILINEAR)
        img = np.asarray(pic)
        hits = compare(p["scene"], detect(img))
        _add(total, hits)
        sketch_ok += all(hits[k][0] == hits[k][1] for k in ("shape", "colour", "place"))
    if any("init" in p for p in prompts):
        print(f"img2img: shape, colour and place all found in {sketch_ok}/{len(prompts)} = "
              f"{100 * sketch_ok / len(prompts):.1f}% of the sketches")
    return report(total)


def engine(cli, model, prompts_path, folder, n, cfg_scale, rng=None, sampler="Euler a"):
    """Generates the prompts with huabu-cli (Euler a, 20 steps) and scores them."""
    import subprocess
    import time
    with open(prompts_path) as f:
        prompts = json.load(f)["prompts"][:n]
    base = os.path.dirname(os.path.abspath(prompts_path))
    for p in prompts:
        if "init" in p and not os.path.isabs(p["init"]):
            p["init"] = os.path.join(base, p["init"])
    os.makedirs(folder, exist_ok=True)
    batch = os.path.join(folder, "batch.json")
    with open(batch, "w") as f:
        json.dump({"prompts": prompts}, f)
    cmd = [cli, "generate", "--batch", batch, "--out-dir", folder, "--steps", "20",
           "--size", f"{SIZE}x{SIZE}",
           "--sampler", sampler, "--cfg", str(cfg_scale), "--no-history"]
    if model:
        cmd += ["--model", model]
    if rng:
        cmd += ["--rng", rng]
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    print(f"{len(prompts)} pictures in {time.time() - t0:.1f} s "
          f"({(time.time() - t0) / len(prompts):.2f} s each, model load included)")
    return score(batch, folder)


def psnr(dir_a, dir_b):
    values = []
    for name in sorted(os.listdir(dir_a)):
        other = os.path.join(dir_b, name)
        if not name.endswith(".png") or not os.path.exists(other):
            continue
        a = np.asarray(Image.open(os.path.join(dir_a, name)).convert("RGB"), dtype=np.float64)
        b = np.asarray(Image.open(other).convert("RGB"), dtype=np.float64)
        mse = ((a - b) ** 2).mean()
        values.append(float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse))
    if not values:
        raise SystemExit(f"no pictures of the same name in {dir_a} and {dir_b}")
    finite = [v for v in values if math.isfinite(v)]
    mean = sum(finite) / len(finite) if finite else float("inf")
    print(f"PSNR over {len(values)} pictures: min {min(values):.1f} dB, mean {mean:.1f} dB "
          f"(identical: {len(values) - len(finite)})")
    return min(values)


def _reference_model(model_path):
    """The PyTorch reference module and the model at model_path, with the
    tokenizer files beside it."""
    sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "reference"))
    import sd_reference as ref
    models = os.path.dirname(os.path.abspath(model_path))
    tok = ref.ClipTokenizer.from_files(os.path.join(models, "vocab.json"),
                                       os.path.join(models, "merges.txt"))
    return ref, ref.Model.load(model_path, tok)


def vae_ceiling(model_path, prompts_path, n):
    """The prompts' own scenes, rendered and sent through the model's VAE
    (encode to the mean, decode): the most a UNet could score through it."""
    import torch
    ref, model = _reference_model(model_path)
    with open(prompts_path) as f:
        prompts = json.load(f)["prompts"][:n]
    rng = np.random.default_rng(5)
    total = collections.defaultdict(lambda: [0, 0])
    for p in prompts:
        img = sd.render(p["scene"], rng, hand_drawn=False)
        with torch.no_grad():
            mean, _ = ref.vae_encode(model.sd, model.meta, ref.image_to_tensor(img))
            out = ref.tensor_to_image(ref.vae_decode(model.sd, model.meta, mean))
        _add(total, compare(p["scene"], detect(out)))
    return report(total)


def reference(model_path, prompts_path, folder, n, cfg_scale):
    ref, model = _reference_model(model_path)
    with open(prompts_path) as f:
        prompts = json.load(f)["prompts"][:n]
    os.makedirs(folder, exist_ok=True)
    total = collections.defaultdict(lambda: [0, 0])
    for i, p in enumerate(prompts):
        img, _ = ref.generate(model, p["prompt"], "", p["seed"], 20, cfg_scale, "euler_a",
                              "discrete", SIZE, SIZE)
        Image.fromarray(img).save(os.path.join(folder, f"{i:04d}.png"))
        _add(total, compare(p["scene"], detect(img)))
    return report(total)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("selftest")
    s.add_argument("n", type=int, nargs="?", default=1000)
    s = sub.add_parser("score")
    s.add_argument("prompts")
    s.add_argument("folder")
    s = sub.add_parser("reference")
    s.add_argument("model")
    s.add_argument("prompts")
    s.add_argument("folder")
    s.add_argument("--n", type=int, default=240)
    s.add_argument("--cfg", type=float, default=4.0)
    s = sub.add_parser("vae")
    s.add_argument("model")
    s.add_argument("prompts")
    s.add_argument("--n", type=int, default=240)
    s = sub.add_parser("engine")
    s.add_argument("prompts")
    s.add_argument("folder")
    s.add_argument("--cli", default="huabu-cli")
    s.add_argument("--model")
    s.add_argument("--n", type=int, default=240)
    s.add_argument("--cfg", type=float, default=4.0)
    s.add_argument("--sampler", default="Euler a", help="a huabu-cli sampler name (Euler a)")
    s.add_argument("--rng", help="GPU (default: PyTorch's CUDA Philox) or CPU (torch.Generator, "
                                 "as the PyTorch reference draws)")
    s = sub.add_parser("psnr")
    s.add_argument("a")
    s.add_argument("b")
    s = sub.add_parser("detect")
    s.add_argument("png", nargs="+")
    args = ap.parse_args()
    if args.cmd == "selftest":
        sys.exit(0 if selftest(args.n) >= 0.99 else 1)
    elif args.cmd == "score":
        score(args.prompts, args.folder)
    elif args.cmd == "reference":
        reference(args.model, args.prompts, args.folder, args.n, args.cfg)
    elif args.cmd == "vae":
        vae_ceiling(args.model, args.prompts, args.n)
    elif args.cmd == "engine":
        engine(args.cli, args.model, args.prompts, args.folder, args.n, args.cfg, args.rng,
               args.sampler)
    elif args.cmd == "psnr":
        psnr(args.a, args.b)
    else:
        for path in args.png:
            print(path, json.dumps(detect(np.asarray(Image.open(path).convert("RGB")))))


if __name__ == "__main__":
    main()
