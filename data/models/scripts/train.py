# SPDX-License-Identifier: GPL-3.0-or-later
"""Trains the built-in "huabu-shapes" model on CPU with the PyTorch reference.

Phases, each resumable from its checkpoint in WORK (default
data/models/training-work/, git-ignored):
  1. vae     the VAE starts as a pass-through (8x8 mean encoder, nearest
             decoder; see vae_passthrough_init), then its decoder learns
             edges on rendered pictures (L1 + L2) -> vae.pt
  2. cache   encode a fixed set of scenes once with the (fixed) encoder ->
             latents.pt (posterior mean and std at 16x16x4, plus each scene
             for re-captioning)
  3. unet    text encoder + UNet jointly on the cached latents: eps prediction,
             scaled-linear schedule, min-SNR-5 loss weights, 10% of captions
             dropped to "" for classifier-free guidance, EMA of the weights
             -> unet.pt
The model is the functional reference in tests/reference/sd_reference.py, run
on a dict of parameters with the ldm key names, so export is a rename-free
copy. Everything is seeded; a resumed run continues where it stopped (its
data stream is a function of the step number).

Usage: nice -n 10 /usr/bin/python3 train.py [--minutes M] [--unet-steps N] ...
Stops when the phase goals are met or after --minutes; run it again to go on.
Phases 1 and 3 can run at once on two cores (the UNet needs only the
encoder): --phase all --ranks 2 trains the VAE in a process of its own beside
the cache and one UNet rank, then the UNet on both (or by hand: --phase vae
--threads 1 and --phase unet --threads 1, then --phase unet --ranks 2).
"""

import argparse
import json
import os
import signal
import socket
import sys
import time

# glibc returning freed tensors to the kernel and idle OpenMP workers spinning
# cost a UNet step as much system time as compute (0.3 -> 0.6-1.4 s): keep
# the heap, one OpenMP thread per process. These must be set before start.
_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "17179869184",
        "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"}
if __name__ == "__main__" and any(os.environ.get(k) != v for k, v in _ENV.items()):
    os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, **_ENV))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed  # noqa: E402
import torch.multiprocessing  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, HERE)

import sd_reference as ref  # noqa: E402
import shapes_dataset  # noqa: E402

SEED = 20240601


def model_config(vocab):
    """The built-in model. Small enough that a 20-step 128x128 generation is
    interactive on lavapipe. GroupNorm uses 8 groups: with SD's 32 groups a
    32-channel layer normalises every channel alone, which erases flat colours
    (the first VAE turned purple into brown); 8 groups keep SD's 4 channels
    per group at the widest VAE level."""
    return ref.FamilyConfig(
        vocab=vocab, text_width=128, text_layers=3, text_heads=2, text_context=77,
        model_channels=32, channel_mult=[1, 2, 4], num_res_blocks=1,
        attention_levels=[1, 2], unet_heads=2, transformer_depth=1,
        vae_ch=32, vae_ch_mult=[1, 1, 2, 2], vae_res_blocks=1, z_channels=4,
        vae_scale_factor=1.0, unet_norm_groups=8, vae_norm_groups=1, unet_coord_channels=2)


def model_meta(cfg):
    """The metadata the reference functions read (strings, as in a file)."""
    return {k: str(v) for k, v in cfg.metadata().items()}


def log(work, msg):
    line = f"{time.strftime('%H:%M:%S')} {msg}"
    print(line, flush=True)
    with open(os.path.join(work, "train.log"), "a") as f:
        f.write(line + "\n")


_stop_requested = False
_forward_to = []  # child processes a stop request is passed on to


def _request_stop(signum, frame):
    global _stop_requested
    _stop_requested = True
    for proc in _forward_to:
        if proc.is_alive():
            proc.terminate()


def stop_on_signals(children=()):
    """SIGTERM or SIGINT (a session's end, Ctrl-C) ends the run as its clock
    would: each process finishes the step it is in, saves its checkpoint and
    exits, and the child processes named here are told too."""
    _forward_to[:] = list(children)
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, _request_stop)


def past(deadline):
    return _stop_requested or time.time() >= deadline


def check_blas(work):
    """Debian's PyTorch calls the system's libblas.so.3. Where that is the
    reference BLAS (python3-torch alone installs it), a UNet step takes
    2-2.6 s instead of 0.32 s; OpenBLAS must be there before training
    starts (a process keeps the BLAS it started with)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f
                    if os.path.basename(line.split()[-1]).startswith("libblas.so")}
    except OSError:
        return
    if libs and not any(fast in lib for lib in libs for fast in ("openblas", "blis", "mkl")):
        log(work, f"warning: slow reference BLAS in use ({', '.join(sorted(libs))}): "
                  "install libopenblas0-pthread (apt) and start again")


def save(path, obj):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def render_batch(seed, n, hand_drawn_p=0.5):
    rng = np.random.default_rng(seed)
    imgs, scenes = [], []
    for _ in range(n):
        img, _, scene = shapes_dataset.sample(rng, hand_drawn_p)
        imgs.append(img)
        scenes.append(scene)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x, scenes


# --- phase 1: VAE

def _silu_slope(x):
    s = 1.0 / (1.0 + np.exp(-x))
    return s * (1.0 + x * (1.0 - s))


def vae_passthrough_init(sd, cfg, anchor=4.0, shift=4.0):
    """Starts the VAE as an 8x8 average-pool encoder and a nearest-neighbour
    decoder, both in SD's VAE layout, so it carries colour from step 0.

    A randomly initialised VAE learns brightness in a few hundred steps but
    hues only after thousands (GroupNorm normalises every sample, so absolute
    colour has to be re-encoded across channels), more than 2 cores allow.
    Here every residual branch and the attention output start at zero (the
    blocks are identities), the RGB values travel in channels 0-2 with their
    negatives in 3-5, and the other channels hold constants of +-`anchor`
    that dominate GroupNorm's statistics (one group), so the norms act as
    fixed affine maps. Before a SiLU, the pair (x, -x) is shifted to `shift`
    and read back as a difference, which cancels SiLU's even terms. Latent
    channels 0-2 start as the 8x8 mean colour, channel 3 is free to learn;
    the posterior's log-variance starts at -8. Training then learns edges."""
    assert cfg.vae_norm_groups == 1, "the pass-through init needs one GroupNorm group"
    P = ref.VAE_PREFIX
    z = cfg.z_channels
    W = lambda n: sd[P + n + ".weight"]  # noqa: E731
    Bias = lambda n: sd[P + n + ".bias"]  # noqa: E731
    sign = lambda c: anchor if c % 2 == 0 else -anchor  # noqa: E731

    def taps(n, pairs, first_anchor=None):
        """Zero n, then w[out, in, centre] = gain for (out, in, gain); channels
        from first_anchor on get a constant +-anchor bias."""
        w, b = W(n), Bias(n)
        w.zero_()
        b.zero_()
        c = w.shape[-1] // 2
        for o, i, g in pairs:
            w[o, i, c, c] = g
        if first_anchor is not None:
            for o in range(first_anchor, w.shape[0]):
                b[o] = sign(o)

    def keep(ch):
        return [(c, c, 1.0) for c in range(ch)]

    def norm_out(n, ch):
        # GroupNorm output of a signal channel: x / sigma; the affine undoes
        # sigma and adds the shift.
        sigma = anchor * ((ch - 6) / ch) ** 0.5
        w, b = W(n), Bias(n)
        w.zero_()
        b.zero_()
        w[:6] = sigma
        b[:6] = shift

    gain = 1.0 / (2.0 * _silu_slope(shift))
    for k in sd:
        if k.startswith(P) and (".conv2." in k or ".proj_out." in k):
            sd[k].zero_()
    for k in [k for k in sd if k.startswith(P) and k.endswith("nin_shortcut.weight")]:
        n = k[len(P):-len(".weight")]
        cout, cin = W(n).shape[:2]
        taps(n, keep(min(cin, cout)), first_anchor=min(cin, cout))
    # Encoder: RGB, -RGB, anchors; 2x2 means at each downsample (taps 0 and 1
    # of ldm's right/bottom-padded stride-2 conv); pair read-out into the mean.
    taps("encoder.conv_in", [(c, c % 3, 1.0 if c < 3 else -1.0) for c in range(6)], first_anchor=6)
    for k in [k for k in sd if k.startswith(P + "encoder.") and k.endswith("downsample.conv.weight")]:
        n = k[len(P):-len(".weight")]
        ch = W(n).shape[0]
        W(n).zero_()
        Bias(n).zero_()
        for c in range(ch):
            W(n)[c, c, 0:2, 0:2] = 0.25
    enc_ch = cfg.vae_ch * cfg.vae_ch_mult[-1]
    norm_out("encoder.norm_out", enc_ch)
    taps("encoder.conv_out", [(c, c, gain) for c in range(3)] + [(c, c + 3, -gain) for c in range(3)])
    W("encoder.conv_out")[3] = torch.randn(W("encoder.conv_out")[3].shape) * 0.01
    taps("quant_conv", keep(z))
    Bias("quant_conv")[z:] = -8.0
    taps("post_quant_conv", keep(z))
    # Decoder: z0-2, -z0-2, z3, -z3, anchors; nearest upsampling (centre tap).
    taps("decoder.conv_in", [(c, c % 3, 1.0 if c < 3 else -1.0) for c in range(6)]
         + [(6, 3, 1.0), (7, 3, -1.0)], first_anchor=8)
    for k in [k for k in sd if k.startswith(P + "decoder.") and k.endswith("upsample.conv.weight")]:
        n = k[len(P):-len(".weight")]
        taps(n, keep(W(n).shape[0]))
    norm_out("decoder.norm_out", cfg.vae_ch * cfg.vae_ch_mult[0])
    taps("decoder.conv_out", [(c, c, gain) for c in range(3)] + [(c, c + 3, -gain) for c in range(3)])

def train_vae(args, cfg, deadline):
    """Pass-through init, then the decoder alone learns edges: the encoder stays
    the 8x8 mean (its latents carry exact colours, and a frozen encoder lets
    the latent cache and the UNet start at once, on the other core)."""
    meta = model_meta(cfg)
    path = os.path.join(args.work, "vae.pt")
    if os.path.exists(path):
        state = torch.load(path)
    else:
        g = torch.Generator().manual_seed(SEED)
        full = ref.init_family(cfg, g)
        vae = {k: v for k, v in full.items() if k.startswith(ref.VAE_PREFIX)}
        with torch.no_grad():
            vae_passthrough_init(vae, cfg)
        state = {"step": 0, "sd": vae, "opt": None}
        save(path, state)
    sd = state["sd"]
    trained = [k for k in sd if k.startswith(ref.VAE_PREFIX + "decoder.")
               or k.startswith(ref.VAE_PREFIX + "post_quant_conv.")]
    for k in trained:
        sd[k] = torch.nn.Parameter(sd[k])
    opt = torch.optim.AdamW([sd[k] for k in trained], lr=args.vae_lr, weight_decay=0.0)
    if state["opt"]:
        opt.load_state_dict(state["opt"])
    step = state["step"]
    last_save = time.time()
    t0 = time.time()
    while step < args.vae_steps and not past(deadline):
        x, scenes = render_batch(SEED + 1_000_000 + step, args.vae_batch)
        # Objects are a few per cent of a picture's pixels (a small star in a
        # pair: 2 %), so a plain mean lets the decoder blur them into blobs:
        # weigh the pixels away from the background colour more.
        bg = torch.tensor([shapes_dataset.BACKGROUNDS[sc["background"]] for sc in scenes],
                          dtype=torch.float32)[:, :, None, None] / 127.5 - 1.0
        w = 1.0 + args.vae_object_weight * ((x - bg).abs().amax(dim=1, keepdim=True) > 0.1).float()
        # Convolutional (its one attention sees the whole crop): 64x64 crops
        # teach the same edges and colours at a quarter of the cost.
        ox, oy = np.random.default_rng(step).integers(0, 128 - args.vae_crop + 1, size=2)
        x = x[:, :, oy:oy + args.vae_crop, ox:ox + args.vae_crop]
        w = w[:, :, oy:oy + args.vae_crop, ox:ox + args.vae_crop]
        with torch.no_grad():
            mean, logvar = ref.vae_encode(sd, meta, x)
            z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        rec = ref.vae_decode(sd, meta, z)
        l1 = (w * (rec - x).abs()).mean()
        l2 = (w * (rec - x) ** 2).mean()
        loss = l1 + l2
        opt.zero_grad()
        loss.backward()
        # The init is a good solution already: Adam's first steps move every
        # weight by the full rate, so warm up slowly.
        for group in opt.param_groups:
            group["lr"] = args.vae_lr * min(1.0, (step + 1) / 300)
        opt.step()
        step += 1
        if step % 25 == 0:
            log(args.work, f"vae step {step} l1 {l1.item():.4f} l2 {l2.item():.4f} "
                           f"({(time.time() - t0) / 25:.2f} s/step)")
            t0 = time.time()
        if time.time() - last_save > 300 or step == args.vae_steps:
            save(path, {"step": step, "sd": {k: v.detach() for k, v in sd.items()},
                        "opt": opt.state_dict()})
            last_save = time.time()
    save(path, {"step": step, "sd": {k: v.detach() for k, v in sd.items()}, "opt": opt.state_dict()})
    return step >= args.vae_steps


def encoder_of(vae):
    return {k: v for k, v in vae.items() if k.startswith(ref.VAE_PREFIX + "encoder.")
            or k.startswith(ref.VAE_PREFIX + "quant_conv.")}


def fingerprint(tensors):
    return float(sum(v.double().abs().sum() for v in tensors.values()))


# --- phase 2: latent cache

def cache_latents(args, cfg):
    meta = model_meta(cfg)
    path = os.path.join(args.work, "latents.pt")
    vae_state = torch.load(os.path.join(args.work, "vae.pt"))
    if os.path.exists(path):
        cache = torch.load(path)
        # Only the encoder makes latents, and it is not trained.
        if cache.get("encoder") == fingerprint(encoder_of(vae_state["sd"])) and cache["mean"].shape[0] == args.cache:
            return cache
    vae = encoder_of(vae_state["sd"])
    means, stds, scenes = [], [], []
    with torch.no_grad():
        for i in range(0, args.cache, 32):
            x, sc = render_batch(SEED + 2_000_000 + i, min(32, args.cache - i))
            mean, logvar = ref.vae_encode(vae, meta, x)
            means.append(mean.half())
            stds.append((0.5 * logvar).exp().half())
            scenes.extend(sc)
            if i % 1024 == 0:
                log(args.work, f"cache {i}/{args.cache}")
    mean = torch.cat(means)
    # SD's convention: the scale factor makes the latents unit-variance.
    scale = float(1.0 / mean.float().std())
    out = {"mean": mean, "std": torch.cat(stds), "scenes": scenes, "scale": scale,
           "encoder": fingerprint(vae)}
    save(path, out)
    log(args.work, f"cached {len(scenes)} latents, scale factor {scale:.5f}")
    return out


# --- phase 3: text encoder + UNet

def flip_scene(scene):
    swap = {"left": "right", "right": "left"}
    objects = []
    for o in scene["objects"]:
        place = " ".join(swap.get(w, w) for w in o["place"].split())
        objects.append(dict(o, place=place))
    return dict(scene, objects=objects)


def ema_update(ema, sd, decay):
    with torch.no_grad():
        for k, v in sd.items():
            ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)


def set_coord_weights(state, cfg, std=0.0, step=0):
    """Sets the first convolution's weights for the coordinate planes, both
    the trained and the EMA weights, and zeroes their Adam moments.

    std 0: zeros. A UNet saved before coordinate inputs existed gets them
    this way, so it computes what it did, and training learns to use them.
    std > 0: drawn afresh (seeded normal). Zero-initialised, they stay near
    zero: with no position in the features of a noisy input, cross-attention
    cannot tie a caption's place words to a region, so nothing asks for
    position either (measured: |w| 0.003 for the planes against 0.08 for the
    latent channels after 2400 steps)."""
    key = ref.UNET_PREFIX + "input_blocks.0.0.weight"
    w = state["sd"][key]
    shape = (w.shape[0], cfg.unet_coord_channels, *w.shape[2:])
    if std:
        g = torch.Generator().manual_seed(SEED + 4_000_000 + step)
        planes = torch.randn(shape, generator=g) * std
    else:
        planes = torch.zeros(shape)

    def with_planes(t, p):
        return torch.cat([t[:, :4], p.to(t.dtype)], dim=1)

    for which in ("sd", "ema"):
        state[which][key] = with_planes(state[which][key], planes)
    moments = state["opt"] and state["opt"]["state"].get(list(state["sd"]).index(key))
    if moments:  # (none in a checkpoint saved before the first step)
        for name in ("exp_avg", "exp_avg_sq"):
            moments[name] = with_planes(moments[name], torch.zeros(shape))


def init_from_model(args, cache=None):
    """Starts WORK from an exported model file (its VAE, and the EMA weights
    of its text encoder and UNet, which go on training from there with fresh
    optimiser moments), so a release can be trained further after its work
    folder is gone. Called before the cache (VAE) and after it (UNet: the
    file's scale factor over the cache's gives the latent scale it used)."""
    sd, meta = ref.load_safetensors(args.init_from)
    vae_path = os.path.join(args.work, "vae.pt")
    if cache is None:
        if not os.path.exists(vae_path):
            vae = {k: v for k, v in sd.items() if k.startswith(ref.VAE_PREFIX)}
            save(vae_path, {"step": int(meta.get("huabu.vae_steps", 0)), "sd": vae, "opt": None})
            log(args.work, f"VAE from {args.init_from}")
        return
    unet_path = os.path.join(args.work, "unet.pt")
    if os.path.exists(unet_path):
        return
    rest = {k: v for k, v in sd.items() if not k.startswith(ref.VAE_PREFIX)}
    latent_scale = round(float(meta["huabu.vae_scale_factor"]) / cache["scale"], 3)
    step = int(meta.get("huabu.unet_steps", 0))
    save(unet_path, {"step": step, "sd": rest, "ema": {k: v.clone() for k, v in rest.items()},
                     "opt": None, "latent_scale": latent_scale, "warm_from": step})
    log(args.work, f"text encoder and UNet from {args.init_from}: step {step}, "
                   f"latent scale {latent_scale}")


def lr_decay(args, step):
    """The learning rate's factor at step: 1 until --lr-decay-from, then
    linearly down to --lr-final at --unet-steps (a cool-down: the weights
    settle into the minimum that a constant rate keeps them circling)."""
    if args.lr_decay_from is None or step < args.lr_decay_from:
        return 1.0
    span = max(1, args.unet_steps - args.lr_decay_from)
    return 1.0 - (1.0 - args.lr_final) * min(1.0, (step - args.lr_decay_from) / span)


def noise_levels(args, step):
    """(fraction of the batch drawn from t >= --high-t-from, cap of the x0
    weight) at step. Place is learned in the noisiest steps, shape in the
    quieter ones, whose weight the capped 1/SNR of the noisy ones dwarfs: from
    --shapes-from on, fewer noisy steps and a lower cap leave shape its share."""
    if args.shapes_from is not None and step >= args.shapes_from:
        return args.shapes_high_t, args.shapes_x0_weight_cap
    return args.high_t, args.x0_weight_cap


def object_weights(z, k, drawn=None):
    """Per-pixel weights (N, 1, H, W) of the noise-prediction error: 1 + k
    (a number, or one per sample, (N, 1, 1, 1))
    on the latent pixels an object covers, and one pixel around them (where
    its outline is), 1 on the background. An object covers a few per cent of
    a picture, and the plain background, easy to predict, has most of the
    pixels; shape is decided at the object's rim. The background is each
    latent's median colour; an object pixel is one whose colour (channels
    0-2) is at least a tenth of the picture's largest distance from it.
    With drawn (the model's estimate of z), the pixels where it draws an
    object count as object pixels too."""
    c = z[:, :3]
    bg = c.flatten(2).median(dim=2).values[:, :, None, None]
    d = (c - bg).norm(dim=1, keepdim=True)
    threshold = 0.1 * d.amax(dim=(2, 3), keepdim=True)
    mask = d > threshold
    if drawn is not None:
        mask |= (drawn[:, :3] - bg).norm(dim=1, keepdim=True) > threshold
    mask = torch.nn.functional.max_pool2d(mask.float(), 3, stride=1, padding=1)
    return 1.0 + k * mask


def noised(z, eps, a):
    """x_t = sqrt(a) z + sqrt(1 - a) eps, a the schedule's alpha-bar at t."""
    return a.sqrt() * z + (1 - a).sqrt() * eps


def clean_estimate(xt, eps, a):
    """The clean latent that a noise prediction eps implies at x_t = sqrt(a) z
    + sqrt(1 - a) noise."""
    return (xt - (1 - a).sqrt() * eps) / a.sqrt()


def train_unet(args, cfg, tok, cache, deadline, rank=0, world=1, until=None):
    path = os.path.join(args.work, "unet.pt")
    if os.path.exists(path):
        state = torch.load(path)
    else:
        g = torch.Generator().manual_seed(SEED + 1)
        full = ref.init_family(cfg, g)
        sd0 = {k: v for k, v in full.items() if not k.startswith(ref.VAE_PREFIX)}
        state = {"step": 0, "sd": sd0, "ema": {k: v.clone() for k, v in sd0.items()}, "opt": None}
    if state["sd"][ref.UNET_PREFIX + "input_blocks.0.0.weight"].shape[1] < 4 + cfg.unet_coord_channels:
        set_coord_weights(state, cfg)
    if args.reinit_coords and state.get("coords_reinit") is None:
        set_coord_weights(state, cfg, args.reinit_coords, state["step"])
        state["coords_reinit"] = state["step"]
        log(args.work, f"coordinate-plane weights drawn afresh, std {args.reinit_coords}")
    coords_reinit = state.get("coords_reinit")
    sd = {k: torch.nn.Parameter(v) for k, v in state["sd"].items()}
    ema = state["ema"]
    opt = torch.optim.AdamW(sd.values(), lr=args.unet_lr, weight_decay=0.01)
    if state["opt"]:
        opt.load_state_dict(state["opt"])
    else:
        state["warm_from"] = state["step"]
    warm_from = state.get("warm_from", 0)
    meta = model_meta(cfg)
    ac = ref.alphas_cumprod()
    # Latents at unit variance leave an object's place visible through the
    # noise even at t = 999 (16x16 latents, SD's schedule): the UNet then
    # finds places in the noise and never needs the caption's place words.
    # Smaller latents (the VAE scale factor times --latent-scale) hide them
    # in the noisiest steps, as a noisier schedule would.
    if state.get("latent_scale", 1.0) != args.latent_scale:
        log(args.work, f"latent scale {state.get('latent_scale', 1.0)} -> {args.latent_scale}")
    scale = cache["scale"] * args.latent_scale
    n = cache["mean"].shape[0]
    step = state["step"]

    def checkpoint():
        return {"step": step, "sd": {k: v.detach() for k, v in sd.items()}, "ema": ema,
                "opt": opt.state_dict(), "latent_scale": args.latent_scale, "warm_from": warm_from,
                "coords_reinit": coords_reinit}

    last_save = time.time()
    t0 = time.time()
    running = 0.0
    # With --ranks, rank 0 tells the others when to stop (all_reduce_mean).
    while (step < args.unet_steps and (world > 1 or not past(deadline))
           and not (until and until())):
        g = torch.Generator().manual_seed(SEED + 3_000_000 + step)
        rng = np.random.default_rng(SEED + 3_000_000 + step)
        idx = torch.randint(0, n, (args.unet_batch,), generator=g)
        z = (cache["mean"][idx].float()
             + cache["std"][idx].float() * torch.randn(cache["mean"][idx].shape, generator=g)) * scale
        # Mirroring left-right doubles the cached set: the shapes are symmetric,
        # so only the places in the caption change.
        flip = torch.rand(args.unet_batch, generator=g) < 0.5
        z = torch.where(flip[:, None, None, None], z.flip(3), z)
        scenes = [flip_scene(cache["scenes"][i]) if f else cache["scenes"][i]
                  for i, f in zip(idx.tolist(), flip.tolist())]
        captions = [shapes_dataset.caption(s, rng) if rng.random() >= 0.1 else "" for s in scenes]
        ids = torch.tensor([tok(c) for c in captions], dtype=torch.int32)
        t = torch.randint(0, 1000, (args.unet_batch,), generator=g)
        # Where an object goes is decided in the noisiest steps: at 16x16 the
        # layout still shows through the noise below t ~ 900, so only there
        # does the caption's place matter, and there plain noise prediction
        # weighs the picture's error by SNR ~ 0.01. Draw more of those steps
        # and weigh their error as a picture error (1/SNR, capped).
        high_t, x0_weight_cap = noise_levels(args, step)
        high = torch.rand(args.unet_batch, generator=g) < high_t
        t = torch.where(high, torch.randint(args.high_t_from, 1000, (args.unet_batch,), generator=g), t)
        eps = torch.randn(z.shape, generator=g)
        a = ac[t][:, None, None, None]
        xt = noised(z, eps, a)
        snr = ac[t] / (1 - ac[t])
        weight = torch.where(snr < 1, (1 / snr).clamp(max=x0_weight_cap),
                             snr.clamp(max=args.min_snr_gamma) / snr)
        # With --ranks, every rank draws the whole batch (the same stream as
        # one process) and computes its slice; the gradients are averaged.
        part = slice(rank * args.unet_batch // world, (rank + 1) * args.unet_batch // world)
        ctx = ref.text_encode(sd, meta, ids[part])
        pred = ref.unet_forward(sd, meta, xt[part], t[part].float(), ctx)
        err = (pred - eps[part]) ** 2
        if args.object_weight:
            # On the target's objects alone, an object drawn where the caption
            # put none lands on background pixels and costs less than one
            # left out. --object-weight-drawn weighs the pixels where the
            # model's estimate of the picture draws an object too.
            drawn = None
            if args.object_weight_drawn:
                drawn = clean_estimate(xt[part], pred.detach(), a[part])
            quiet = (t[part] < args.object_weight_max_t).float()[:, None, None, None]
            w = object_weights(z[part], args.object_weight * quiet, drawn)
            err = err * w / w.mean(dim=(1, 2, 3), keepdim=True)
        loss = (weight[part] * err.mean(dim=(1, 2, 3))).mean()
        opt.zero_grad()
        loss.backward()
        stop = world > 1 and all_reduce_mean(sd, loss, past(deadline))
        torch.nn.utils.clip_grad_norm_(sd.values(), 1.0)
        # Short warm-up: fresh attention layers diverge at the full rate.
        for group in opt.param_groups:
            group["lr"] = args.unet_lr * min(1.0, (step - warm_from + 1) / 200) * lr_decay(args, step)
        opt.step()
        step += 1
        if rank == 0:  # the only one that logs and saves
            ema_update(ema, sd, min(args.ema, (1 + step) / (10 + step)))
            running += loss.item()
            if step % 25 == 0:
                log(args.work, f"unet step {step} loss {running / 25:.4f} "
                               f"({(time.time() - t0) / 25:.2f} s/step)")
                running = 0.0
                t0 = time.time()
            if time.time() - last_save > 300 or step == args.unet_steps:
                save(path, checkpoint())
                last_save = time.time()
        if stop:
            break
    if rank == 0:
        save(path, checkpoint())


def all_reduce_mean(sd, loss, past_deadline):
    """Averages the gradients and the loss over the ranks in one message, and
    tells every rank whether any is past its deadline (so all stop at the
    same step). Returns that flag; the loss is updated in place."""
    grads = [p.grad for p in sd.values()]
    flat = torch.cat([g.reshape(-1) for g in grads]
                     + [loss.detach().reshape(1), torch.tensor([float(past_deadline)])])
    torch.distributed.all_reduce(flat)
    world = torch.distributed.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g) / world)
        offset += g.numel()
    loss.data.fill_(flat[offset].item() / world)
    return flat[offset + 1].item() > 0


def unet_rank(rank, args, cfg, tok, cache, deadline, port):
    """One of --ranks processes: one thread each, gradients averaged (a UNet
    step at batch 16 takes 0.30-0.39 s on one process, one or two threads;
    two ranks with half the batch each took 0.24 s on the 2-core machine)."""
    stop_on_signals()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                                         rank=rank, world_size=args.ranks)
    train_unet(args, cfg, tok, cache, deadline, rank, args.ranks)
    torch.distributed.destroy_process_group()


def vae_beside(args, cfg, deadline):
    """The VAE of --phase all --ranks N, in a process of its own: one thread,
    beside the latent cache and the UNet's first rank."""
    stop_on_signals()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    train_vae(args, cfg, deadline)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.path.join(ROOT, "data", "models", "training-work"))
    ap.add_argument("--minutes", type=float, default=60.0, help="stop (and save) after this long")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ranks", type=int, default=1,
                    help="UNet phase: this many processes of one thread each, each on a "
                         "slice of the batch (data parallel; the same stream of batches); "
                         "with --phase all the VAE takes one of them until it is done")
    ap.add_argument("--phase", choices=["all", "vae", "unet"], default="all",
                    help="vae and unet can run at once, one thread each (the UNet "
                         "needs only the VAE's encoder, which is fixed at its init)")
    ap.add_argument("--vae-steps", type=int, default=3000)
    ap.add_argument("--vae-batch", type=int, default=8)
    ap.add_argument("--vae-crop", type=int, default=64)
    ap.add_argument("--vae-lr", type=float, default=1e-4)
    ap.add_argument("--vae-object-weight", type=float, default=0.0,
                    help="extra weight of the pixels that differ from the background")
    ap.add_argument("--cache", type=int, default=2000, help="number of cached training latents")
    ap.add_argument("--unet-steps", type=int, default=100000)
    ap.add_argument("--unet-batch", type=int, default=16)
    ap.add_argument("--unet-lr", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--lr-decay-from", type=int, metavar="STEP",
                    help="from this UNet step the learning rate falls linearly to "
                         "--lr-final times --unet-lr at --unet-steps (default: constant)")
    ap.add_argument("--lr-final", type=float, default=0.1)
    ap.add_argument("--high-t", type=float, default=0.0,
                    help="fraction of UNet samples drawn from t >= --high-t-from")
    ap.add_argument("--high-t-from", type=int, default=800)
    ap.add_argument("--latent-scale", type=float, default=1.0,
                    help="multiply the unit-variance latents by this for the UNet "
                         "(the exported VAE scale factor includes it)")
    ap.add_argument("--init-from", metavar="MODEL",
                    help="start an empty WORK from an exported model file (e.g. the "
                         "shipped huabu-shapes.safetensors) instead of from scratch")
    ap.add_argument("--reinit-coords", type=float, default=0.0, metavar="STD",
                    help="once per work folder: draw the coordinate-plane weights of the "
                         "first convolution afresh with this std (0: no)")
    ap.add_argument("--x0-weight-cap", type=float, default=1.0,
                    help="weigh noisy steps (SNR < 1) by 1/SNR up to this")
    ap.add_argument("--min-snr-gamma", type=float, default=5.0, metavar="GAMMA",
                    help="weigh quiet steps (SNR >= 1) by min(SNR, GAMMA) / SNR; must be >= 1")
    ap.add_argument("--object-weight", type=float, default=0.0, metavar="K",
                    help="weigh the noise-prediction error on the latent pixels of objects "
                         "(and one pixel around them) 1 + K times the background's")
    ap.add_argument("--object-weight-max-t", type=int, default=1000, metavar="T",
                    help="only at noise steps t < T (default: all)")
    ap.add_argument("--object-weight-drawn", action="store_true",
                    help="with --object-weight, also weigh the pixels where the model's own "
                         "estimate of the picture draws an object")
    ap.add_argument("--shapes-from", type=int, metavar="STEP",
                    help="from this UNet step on, --shapes-high-t and --shapes-x0-weight-cap "
                         "replace --high-t and --x0-weight-cap (default: never)")
    ap.add_argument("--shapes-high-t", type=float, default=0.2)
    ap.add_argument("--shapes-x0-weight-cap", type=float, default=10.0)
    args = ap.parse_args()
    if args.min_snr_gamma < 1:
        ap.error("--min-snr-gamma must be at least 1 (below it the weight jumps at SNR 1)")
    torch.set_num_threads(args.threads)
    # Adam's moments and tiny attention weights reach denormal floats after a
    # few hundred steps, which made a step 4x slower.
    torch.set_flush_denormal(True)
    torch.manual_seed(SEED)
    os.makedirs(args.work, exist_ok=True)
    deadline = time.time() + args.minutes * 60
    stop_on_signals()
    models = os.path.join(ROOT, "data", "models")
    tok = ref.ClipTokenizer.from_files(os.path.join(models, "vocab.json"),
                                       os.path.join(models, "merges.txt"))
    cfg = model_config(len(tok.encoder))
    with open(os.path.join(args.work, "config.json"), "w") as f:
        json.dump(cfg.__dict__, f, indent=1)
    log(args.work, f"start: {vars(args)}")
    check_blas(args.work)
    if args.init_from:
        init_from_model(args)
    vae_path = os.path.join(args.work, "vae.pt")
    beside = args.phase == "all" and args.ranks > 1
    vae_proc = None
    if args.phase == "unet" or beside:
        if not os.path.exists(vae_path):
            train_vae(args, cfg, 0)  # only its initial state, for the encoder
        if beside and torch.load(vae_path)["step"] < args.vae_steps:
            # One core trains the VAE's decoder; the other makes the latent
            # cache and trains the UNet on one rank until the VAE is done.
            vae_proc = torch.multiprocessing.get_context("spawn").Process(
                target=vae_beside, args=(args, cfg, deadline))
            vae_proc.start()
            stop_on_signals([vae_proc])
            torch.set_num_threads(1)
    elif not train_vae(args, cfg, deadline) or args.phase == "vae":
        log(args.work, "stopped in the VAE phase; run again to continue")
        return
    cache = cache_latents(args, cfg)
    if args.init_from:
        init_from_model(args, cache)
    if vae_proc:
        train_unet(args, cfg, tok, cache, deadline, until=lambda: not vae_proc.is_alive())
        vae_proc.join()
        if vae_proc.exitcode != 0:
            sys.exit(f"train.py: the VAE process failed (exit code {vae_proc.exitcode}); "
                     f"see {os.path.join(args.work, 'train.log')}, then run again to continue")
        if not past(deadline):
            log(args.work, f"the VAE is done: the UNet goes on with {args.ranks} ranks")
    if args.ranks == 1:
        train_unet(args, cfg, tok, cache, deadline)
    elif not past(deadline):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        ranks = torch.multiprocessing.spawn(unet_rank, args=(args, cfg, tok, cache, deadline, port),
                                            nprocs=args.ranks, join=False)
        stop_on_signals(ranks.processes)
        while not ranks.join():
            pass
    log(args.work, "stopped; run again to continue")


if __name__ == "__main__":
    main()
