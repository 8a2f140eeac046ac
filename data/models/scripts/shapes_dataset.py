# SPDX-License-Identifier: GPL-3.0-or-later
"""The "shapes" text-image data set of the built-in model.

A scene grammar: a background colour and one or two objects, each a shape
with a colour, a size and a place, rendered at 128x128 with anti-aliasing
(drawn at 4x and box-filtered down). Half of the pictures (in training) are
"hand-drawn": wobbly outlines, uneven fill and a stroke texture, so a rough
sketch on the canvas is in distribution for img2img.

Everything is deterministic given a seed. Some colour x shape pairs are held
out: they never appear in training scenes and make the evaluation prompts
(`heldout_prompts`, written by `python3 shapes_dataset.py --heldout FILE`).

Run as a script to write a preview grid or the held-out list.
"""

import argparse
import json
import math
import os

import numpy as np
from PIL import Image, ImageDraw

SIZE = 128
SUPER = 4

# Object colours: the named colour and its sRGB value.
COLOURS = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (250, 220, 30),
    "green": (40, 170, 60),
    "blue": (30, 80, 220),
    "purple": (130, 50, 180),
    "pink": (250, 130, 190),
    "brown": (120, 70, 30),
    "black": (15, 15, 15),
    "white": (245, 245, 245),
}

BACKGROUNDS = {
    "white": (250, 250, 250),
    "black": (10, 10, 10),
    "grey": (128, 128, 128),
    "dark green": (20, 70, 40),
    "dark blue": (20, 30, 90),
    "beige": (230, 215, 180),
    "light blue": (170, 210, 240),
    "light yellow": (250, 245, 190),
}

SHAPES = ("circle", "square", "triangle", "star", "heart", "diamond")

# Place name -> centre in [0, 1] picture coordinates.
PLACES = {
    "centre": (0.5, 0.5),
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.25),
    "bottom": (0.5, 0.75),
    "top left": (0.25, 0.25),
    "top right": (0.75, 0.25),
    "bottom left": (0.25, 0.75),
    "bottom right": (0.75, 0.75),
}

# Two objects go to places far enough apart that two large ones do not touch.
PLACE_PAIRS = [
    ("left", "right"), ("top", "bottom"), ("top left", "bottom right"),
    ("top right", "bottom left"), ("top left", "top right"),
    ("bottom left", "bottom right"), ("top left", "bottom left"),
    ("top right", "bottom right"),
]

# Half-widths as a fraction of the picture: single objects / two objects.
# Small ones were 0.11 / 0.09 until 2026-12-06: 2-3 latent pixels across, too
# few for the 8x8 mean encoder to keep a star from a disc (the VAE's own
# ceiling on held-out shapes went 81.1 -> 86.5 % with these sizes).
RADIUS = {"small": 0.14, "large": 0.22}
RADIUS_PAIR = {"small": 0.11, "large": 0.17}

# Never in training: these colour x shape pairs are the evaluation's prompts.
HELDOUT_PAIRS = [
    ("red", "star"), ("blue", "heart"), ("green", "triangle"), ("yellow", "square"),
    ("purple", "circle"), ("orange", "diamond"), ("pink", "triangle"), ("brown", "star"),
]

PLACE_PHRASES = {
    "centre": ["in the centre", "in the middle", "in the center"],
    "left": ["on the left", "at the left"],
    "right": ["on the right", "at the right"],
    "top": ["at the top", "on top"],
    "bottom": ["at the bottom", "on the bottom"],
    "top left": ["in the top left", "in the top left corner", "at the top left"],
    "top right": ["in the top right", "in the top right corner", "at the top right"],
    "bottom left": ["in the bottom left", "in the bottom left corner", "at the bottom left"],
    "bottom right": ["in the bottom right", "in the bottom right corner", "at the bottom right"],
}

SIZE_WORDS = {"small": ["small", "little", "tiny"], "large": ["large", "big", "huge"]}


def _contrast_ok(colour, background):
    a = np.array(COLOURS[colour], dtype=float)
    b = np.array(BACKGROUNDS[background], dtype=float)
    return np.linalg.norm(a - b) > 120


def is_heldout(colour, shape):
    return (colour, shape) in HELDOUT_PAIRS


def _object(rng, heldout, background):
    while True:
        colour = str(rng.choice(list(COLOURS)))
        shape = str(rng.choice(SHAPES))
        if is_heldout(colour, shape) != heldout:
            continue
        if _contrast_ok(colour, background):
            return {"colour": colour, "shape": shape, "size": str(rng.choice(["small", "large"]))}


def random_scene(rng, heldout=False):
    """heldout=False: only training pairs; True: the first object is a
    held-out pair (the second, if any, a training pair)."""
    background = str(rng.choice(list(BACKGROUNDS)))
    if rng.random() < 0.6:
        obj = _object(rng, heldout, background)
        obj["place"] = str(rng.choice(list(PLACES)))
        objects = [obj]
    else:
        pair = list(PLACE_PAIRS[rng.integers(len(PLACE_PAIRS))])
        if rng.random() < 0.5:
            pair.reverse()
        objects = [_object(rng, heldout, background), _object(rng, False, background)]
        for o, p in zip(objects, pair):
            o["place"] = p
    return {"background": background, "objects": objects}


def _polygon(shape, n=96):
    """Unit outline (radius ~1, y down) of a shape as an [n, 2] array."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    if shape == "circle":
        return np.stack([np.cos(t), np.sin(t)], 1)
    if shape == "square":
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.85
    elif shape == "triangle":
        pts = np.array([[0, -1], [0.95, 0.75], [-0.95, 0.75]], float)
    elif shape == "diamond":
        pts = np.array([[0, -1], [0.75, 0], [0, 1], [-0.75, 0]], float)
    elif shape == "star":
        a = -math.pi / 2 + np.arange(10) * math.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        pts = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    elif shape == "heart":
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y + 2.5], 1) / 16.5
    else:
        raise ValueError(shape)
    # Resample the corners' polygon densely so wobble can bend its edges.
    closed = np.concatenate([pts, pts[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    pos = np.linspace(0, seg.sum(), n, endpoint=False)
    cum = np.concatenate([[0], np.cumsum(seg)])
    idx = np.searchsorted(cum, pos, side="right") - 1
    f = (pos - cum[idx]) / seg[idx]
    return closed[idx] * (1 - f)[:, None] + closed[idx + 1] * f[:, None]


def _smooth_noise(rng, n, amount):
    """Periodic low-frequency noise along an outline."""
    k = np.arange(1, 5)
    phase = rng.uniform(0, 2 * math.pi, size=(4,))
    amp = rng.normal(0, 1, size=(4,)) / k
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return amount * (amp[None] * np.sin(k[None] * t[:, None] + phase[None])).sum(1)


def render(scene, rng, hand_drawn=False):
    """uint8 [128, 128, 3]."""
    big = SIZE * SUPER
    img = Image.new("RGB", (big, big), BACKGROUNDS[scene["background"]])
    radii = RADIUS if len(scene["objects"]) == 1 else RADIUS_PAIR
    for obj in scene["objects"]:
        cx, cy = PLACES[obj["place"]]
        cx += rng.uniform(-0.03, 0.03)
        cy += rng.uniform(-0.03, 0.03)
        r = radii[obj["size"]] * rng.uniform(0.9, 1.1)
        pts = _polygon(obj["shape"])
        angle = rng.uniform(-0.15, 0.15)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        pts = pts @ rot.T
        if hand_drawn:
            pts = pts * (1 + _smooth_noise(rng, len(pts), 0.05))[:, None]
            pts = pts + rng.normal(0, 0.012, size=pts.shape)
        xy = [(float((cx + r * x) * big), float((cy + r * y) * big)) for x, y in pts]
        colour = np.array(COLOURS[obj["colour"]], float)
        if not hand_drawn:
            ImageDraw.Draw(img).polygon(xy, fill=tuple(int(c) for c in colour))
            continue
        # Uneven fill: the colour modulated by blurred noise and a hatch, made
        # only inside the object's bounding box (rendering is part of training).
        x0, y0 = (max(0, int(min(p[i] for p in xy)) - 2) for i in (0, 1))
        x1, y1 = (min(big, int(max(p[i] for p in xy)) + 3) for i in (0, 1))
        w, h = x1 - x0, y1 - y0
        if rng.random() < 0.3:
            # Sometimes the fill misses the edge, as a quick sketch does.
            k = 1 - 2.5 * SUPER / (r * big)
            px, py = cx * big, cy * big
            fill_xy = [(px + (x - px) * k, py + (y - py) * k) for x, y in xy]
        else:
            fill_xy = xy
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in fill_xy], fill=255)
        noise = rng.normal(0, 1, size=(max(2, h // 16), max(2, w // 16))).astype(np.float32)
        noise = np.asarray(Image.fromarray(noise, "F").resize((w, h), Image.BILINEAR))
        fill = colour.astype(np.float32)[None, None] * (1 + 0.12 * noise[..., None])
        hatch = (np.add.outer(np.arange(y0, y1), np.arange(x0, x1)) // (SUPER * 3)) % 2 == 1
        fill = np.where(hatch[..., None], fill, fill * 0.9 + 10)
        layer = Image.fromarray(np.clip(fill, 0, 255).astype(np.uint8), "RGB")
        img.paste(layer, (x0, y0), mask)
        outline = tuple(int(c) for c in np.clip(colour * 0.6, 0, 255))
        ImageDraw.Draw(img).line(xy + xy[:1], fill=outline, width=SUPER * 2, joint="curve")
    return np.asarray(img.resize((SIZE, SIZE), Image.BOX))


def _obj_phrase(rng, obj, with_place=True):
    size = rng.choice(SIZE_WORDS[obj["size"]])
    words = f"{size} {obj['colour']} {obj['shape']}"
    if with_place:
        words += " " + rng.choice(PLACE_PHRASES[obj["place"]])
    return words


def caption(scene, rng):
    """One of several natural phrasings of the scene."""
    bg = scene["background"]
    objs = scene["objects"]
    if len(objs) == 1:
        o = objs[0]
        templates = [
            lambda: f"a {_obj_phrase(rng, o)} on a {bg} background",
            lambda: f"a {_obj_phrase(rng, o)}, {bg} background",
            lambda: f"{bg} background with a {_obj_phrase(rng, o)}",
            lambda: f"a {o['colour']} {o['shape']}, {o['size']}, {rng.choice(PLACE_PHRASES[o['place']])} on {bg}",
            lambda: f"a drawing of a {_obj_phrase(rng, o)} on a {bg} background",
        ]
    else:
        a, b = objs
        templates = [
            lambda: f"two shapes: a {_obj_phrase(rng, a)} and a {_obj_phrase(rng, b)}, {bg} background",
            lambda: f"a {_obj_phrase(rng, a)} and a {_obj_phrase(rng, b)} on a {bg} background",
            lambda: f"{bg} background with a {_obj_phrase(rng, a)} and a {_obj_phrase(rng, b)}",
        ]
    return templates[rng.integers(len(templates))]()


def canonical_caption(scene):
    """The single fixed phrasing used for evaluation prompts."""
    parts = [f"{o['size']} {o['colour']} {o['shape']} {PLACE_PHRASES[o['place']][0]}"
             for o in scene["objects"]]
    if len(parts) == 1:
        return f"a {parts[0]} on a {scene['background']} background"
    return f"two shapes: a {parts[0]} and a {parts[1]}, {scene['background']} background"


def sample(rng, hand_drawn_p=0.5, heldout=False):
    """(image uint8 [128,128,3], caption, scene) for one training example."""
    scene = random_scene(rng, heldout)
    hand = rng.random() < hand_drawn_p
    return render(scene, rng, hand), caption(scene, rng), scene


def all_caption_words():
    """Every word the grammar can produce, for the BPE trainer's corpus."""
    rng = np.random.default_rng(0)
    return [caption(random_scene(rng), rng) for _ in range(20000)]


def heldout_prompts(n=240, seed=1234):
    """Evaluation prompts built on held-out colour x shape pairs, each with a
    fixed generation seed and its ground-truth scene."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        scene = random_scene(rng, heldout=True)
        out.append({"prompt": canonical_caption(scene), "seed": 1000 + i, "scene": scene})
    return out


def sketches(folder, n=60, seed=777):
    """Hand-drawn pictures for the img2img benchmark, from a stream of random
    numbers that training never uses, with their prompts (same format as
    the held-out prompts, so eval_shapes.py scores them)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    prompts = []
    for i in range(n):
        scene = random_scene(rng)
        Image.fromarray(render(scene, rng, hand_drawn=True)).save(os.path.join(folder, f"{i:04d}.png"))
        prompts.append({"prompt": canonical_caption(scene), "seed": 3000 + i, "scene": scene,
                        "init": f"{i:04d}.png", "strength": 0.6})
    with open(os.path.join(folder, "prompts.json"), "w") as f:
        json.dump({"prompts": prompts}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", help="write an 8x8 preview grid PNG here")
    ap.add_argument("--heldout", help="write the held-out evaluation prompts (JSON) here")
    ap.add_argument("--sketches", help="write hand-drawn img2img test pictures into this folder")
    ap.add_argument("--n-sketches", type=int, default=60,
                    help="how many (the first 60 are the same whatever the number)")
    args = ap.parse_args()
    if args.sketches:
        sketches(args.sketches, args.n_sketches)
    if args.grid:
        rng = np.random.default_rng(7)
        grid = Image.new("RGB", (SIZE * 8, SIZE * 8))
        for i in range(64):
            img, cap, _ = sample(rng)
            print(cap)
            grid.paste(Image.fromarray(img), ((i % 8) * SIZE, (i // 8) * SIZE))
        grid.save(args.grid)
    if args.heldout:
        with open(args.heldout, "w") as f:
            json.dump({"heldout_pairs": HELDOUT_PAIRS, "prompts": heldout_prompts()}, f, indent=1)


if __name__ == "__main__":
    main()
