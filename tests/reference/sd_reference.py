# SPDX-License-Identifier: GPL-3.0-or-later
"""PyTorch reference of the Stable Diffusion 1.x family, for golden data.

Written from the published architecture (CompVis latent-diffusion "ldm" code,
k-diffusion samplers, OpenAI CLIP tokenizer), CPU only, float32. The C engine
(compute/) is matched against this file, so every formula is spelled out here
rather than hidden behind a library call.

Weights are a flat dict {ldm key name: tensor}, read from a single-file
.safetensors checkpoint. The architecture is DERIVED from the key names and
shapes (never from a config), exactly as the C engine does it; see
UNetConfig.derive, VAEConfig.derive, TextConfig.derive.

Layouts are torch's: activations NCHW, conv weights [Cout, Cin, KH, KW],
linear weights [out, in].

Metadata keys read from the safetensors header "__metadata__":
  huabu.text_heads        heads of the text encoder (default width / 64)
  huabu.unet_heads        heads of every UNet attention (default 8, SD 1.x)
  huabu.unet_norm_groups  GroupNorm groups in the UNet (default 32, SD 1.x;
                          diffusers: unet/config.json norm_num_groups)
  huabu.vae_norm_groups   GroupNorm groups in the VAE (default 32; diffusers:
                          vae/config.json norm_num_groups)
  huabu.unet_coord_channels  0 (default) or 2: the UNet's first convolution
                          also reads an x and a y plane after the latent
                          (Huabu's own models; see unet_input)
  huabu.vae_scale_factor  latent scale (default 0.18215)
  huabu.prediction_type   "epsilon" (default) or "v_prediction"
  huabu.pad_token         token id used to pad prompts (default: end token)
"""

import json
import math
import re
import struct
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# safetensors, by hand: u64 LE header length, JSON header, raw little-endian data

_ST_DTYPES = {
    "F32": np.float32, "F16": np.float16, "F64": np.float64,
    "I32": np.int32, "I64": np.int64, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}
_NP_TO_ST = {np.dtype(v): k for k, v in _ST_DTYPES.items()}


def load_safetensors(path):
    """Returns ({name: float32/int torch tensor}, metadata dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype = np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<")
        start, end = info["data_offsets"]
        arr = np.frombuffer(blob, dtype=dtype, count=(end - start) // dtype.itemsize,
                            offset=base + start).reshape(info["shape"])
        t = torch.from_numpy(arr.copy())
        if t.is_floating_point():
            t = t.float()
        tensors[name] = t
    return tensors, meta


def save_safetensors(path, tensors, metadata=None, dtype=None):
    """tensors: {name: torch tensor or numpy array}. dtype: numpy float dtype to
    cast floating tensors to (e.g. np.float16), or None to keep them."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        arr = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        if dtype is not None and np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(dtype)
        arr = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False)
        raw = arr.tobytes()
        header[name] = {"dtype": _NP_TO_ST[arr.dtype.newbyteorder("=")],
                        "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # The data must start 8-byte aligned so readers can map it in place.
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in chunks:
            f.write(raw)


# ---------------------------------------------------------------------------
# CLIP tokenizer (byte-level BPE, OpenAI CLIP's simple_tokenizer.py)

def bytes_to_unicode():
    """CLIP/GPT-2 map from bytes to printable unicode characters, so BPE works
    on strings without whitespace/control characters."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


# CLIP's pattern uses \p{L} and \p{N}; Python's re has neither, so letters are
# [^\W\d_] (unicode word characters minus digits and underscore) and numbers \d.
_CLIP_PAT = re.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+""",
    re.IGNORECASE)

BOS_TEXT = "<|startoftext|>"
EOS_TEXT = "<|endoftext|>"


class ClipTokenizer:
    """vocab.json maps token strings to ids; merges.txt lists merges in rank
    order after a '#version' line. Words end with '</w>'."""

    def __init__(self, vocab, merges):
        self.encoder = dict(vocab)
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.bos = self.encoder[BOS_TEXT]
        self.eos = self.encoder[EOS_TEXT]
        self.cache = {}

    @classmethod
    def from_files(cls, vocab_path, merges_path):
        with open(vocab_path, encoding="utf-8") as f:
            vocab = json.load(f)
        return cls(vocab, read_merges(merges_path))

    @classmethod
    def from_merges(cls, merges):
        """The vocabulary CLIP builds from its merges: 256 byte characters,
        the same with '</w>', one token per merge, then the two specials."""
        return cls(vocab_from_merges(merges), merges)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self.cache[token] = word
        return word

    def encode(self, text):
        """Token ids without begin/end tokens. Clean-up as CLIP: collapse
        whitespace, strip, lower-case."""
        text = re.sub(r"\s+", " ", text).strip().lower()
        ids = []
        for piece in _CLIP_PAT.findall(text):
            piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(piece))
        return ids

    def __call__(self, text, length=77, pad=None):
        """[BOS, ids..., EOS, pad...] of exactly `length`; long prompts are cut
        so the end token is always present (A1111 without chunking)."""
        ids = self.encode(text)[:length - 2]
        pad = self.eos if pad is None else pad
        out = [self.bos] + ids + [self.eos]
        return out + [pad] * (length - len(out))


def read_merges(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[0].startswith("#version"):
        lines = lines[1:]
    return [tuple(line.split()) for line in lines if line.strip()]


def vocab_from_merges(merges):
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges]
    tokens += [BOS_TEXT, EOS_TEXT]
    return {t: i for i, t in enumerate(tokens)}


# ---------------------------------------------------------------------------
# Small building blocks

def linear(sd, prefix, x):
    return F.linear(x, sd[prefix + ".weight"], sd.get(prefix + ".bias"))


def conv(sd, prefix, x, stride=1, padding=None):
    w = sd[prefix + ".weight"]
    if padding is None:
        padding = w.shape[-1] // 2
    return F.conv2d(x, w, sd.get(prefix + ".bias"), stride=stride, padding=padding)


def group_norm(sd, prefix, x, eps, groups=32):
    return F.group_norm(x, groups, sd[prefix + ".weight"], sd[prefix + ".bias"], eps)


def layer_norm(sd, prefix, x, eps=1e-5):
    w = sd[prefix + ".weight"]
    return F.layer_norm(x, w.shape, w, sd[prefix + ".bias"], eps)


def attention(q, k, v, heads, mask=None):
    """q [B, Nq, heads*d], k/v [B, Nk, heads*d] -> [B, Nq, heads*d];
    softmax(q k^T / sqrt(d) + mask) v per head."""
    b, nq, c = q.shape
    d = c // heads
    q = q.reshape(b, nq, heads, d).transpose(1, 2)
    k = k.reshape(b, -1, heads, d).transpose(1, 2)
    v = v.reshape(b, -1, heads, d).transpose(1, 2)
    w = (q @ k.transpose(-1, -2)) * (d ** -0.5)
    if mask is not None:
        w = w + mask
    out = w.softmax(dim=-1) @ v
    return out.transpose(1, 2).reshape(b, nq, c)


_INDEX_CACHE = {}


def _indices(sd, prefix):
    """Sorted integer children of `prefix.` among the keys. Cached per dict,
    since training calls the forward functions thousands of times on one dict
    (the cached entry keeps the dict alive, so its id cannot be reused)."""
    hit = _INDEX_CACHE.get((id(sd), prefix))
    if hit is not None and hit[0] is sd and hit[1] == len(sd):
        return hit[2]
    result = _scan_indices(sd, prefix)
    _INDEX_CACHE[(id(sd), prefix)] = (sd, len(sd), result)
    return result


def _scan_indices(sd, prefix):
    n = len(prefix) + 1
    found = set()
    for k in sd:
        if k.startswith(prefix + "."):
            head = k[n:].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def _has(sd, prefix):
    return any(k.startswith(prefix + ".") for k in sd)


# ---------------------------------------------------------------------------
# CLIP text encoder (ldm: cond_stage_model.transformer.text_model.*)

TEXT_PREFIX = "cond_stage_model.transformer.text_model."


@dataclass
class TextConfig:
    vocab: int
    width: int
    layers: int
    heads: int
    context: int
    mlp: int

    @staticmethod
    def derive(sd, meta):
        p = TEXT_PREFIX
        vocab, width = sd[p + "embeddings.token_embedding.weight"].shape
        context = sd[p + "embeddings.position_embedding.weight"].shape[0]
        layers = len(_indices(sd, p + "encoder.layers"))
        mlp = sd[p + "encoder.layers.0.mlp.fc1.weight"].shape[0]
        heads = int(meta.get("huabu.text_heads", width // 64))
        return TextConfig(vocab, width, layers, heads, context, mlp)


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def text_encode(sd, meta, ids, clip_skip=1):
    """ids: int tensor [B, 77] -> hidden states [B, 77, width].

    Pre-LayerNorm transformer with a causal mask and quick-GELU MLP.
    clip_skip=1 is the last layer's output; clip_skip=2 the second-to-last
    layer's (A1111 convention); final_layer_norm is applied either way."""
    cfg = TextConfig.derive(sd, meta)
    p = TEXT_PREFIX
    n = ids.shape[1]
    x = sd[p + "embeddings.token_embedding.weight"][ids.long()]
    x = x + sd[p + "embeddings.position_embedding.weight"][:n][None]
    mask = torch.full((n, n), float("-inf")).triu(1)
    for i in range(cfg.layers - (clip_skip - 1)):
        lp = p + f"encoder.layers.{i}."
        h = layer_norm(sd, lp + "layer_norm1", x)
        q = linear(sd, lp + "self_attn.q_proj", h)
        k = linear(sd, lp + "self_attn.k_proj", h)
        v = linear(sd, lp + "self_attn.v_proj", h)
        x = x + linear(sd, lp + "self_attn.out_proj", attention(q, k, v, cfg.heads, mask))
        h = layer_norm(sd, lp + "layer_norm2", x)
        x = x + linear(sd, lp + "mlp.fc2", quick_gelu(linear(sd, lp + "mlp.fc1", h)))
    return layer_norm(sd, p + "final_layer_norm", x)


# ---------------------------------------------------------------------------
# UNet (ldm openaimodel.UNetModel: model.diffusion_model.*)

UNET_PREFIX = "model.diffusion_model."


@dataclass
class UNetConfig:
    in_channels: int
    out_channels: int
    model_channels: int
    channel_mult: list
    num_res_blocks: int
    attention_levels: list      # level indices whose blocks have a SpatialTransformer
    context_dim: int
    transformer_depth: int
    heads: int
    linear_proj: bool           # proj_in/proj_out are linear (SD 2.x) instead of 1x1 convs

    @staticmethod
    def derive(sd, meta):
        """Walk input_blocks: block 0 is conv_in; a block with `0.op` is a
        Downsample that ends a level; other blocks are a ResBlock (`0.`) and,
        on attention levels, a SpatialTransformer (`1.`)."""
        p = UNET_PREFIX
        conv_in = sd[p + "input_blocks.0.0.weight"]
        mc, cin = conv_in.shape[0], conv_in.shape[1]
        cout = sd[p + "out.2.weight"].shape[0]
        mult, attn_levels, per_level = [], [], []
        count = 0
        level_attn = False
        last_ch = mc
        for i in _indices(sd, p + "input_blocks")[1:]:
            bp = p + f"input_blocks.{i}."
            if bp + "0.op.weight" in sd:
                mult.append(last_ch // mc)
                per_level.append(count)
                if level_attn:
                    attn_levels.append(len(mult) - 1)
                count, level_attn = 0, False
                continue
            last_ch = sd[bp + "0.out_layers.3.weight"].shape[0]
            count += 1
            level_attn = level_attn or _has(sd, bp + "1")
        mult.append(last_ch // mc)
        per_level.append(count)
        if level_attn:
            attn_levels.append(len(mult) - 1)
        if len(set(per_level)) != 1:
            raise ValueError(f"levels have different numbers of res blocks: {per_level}")
        tp = p + "middle_block.1."
        ctx = sd[tp + "transformer_blocks.0.attn2.to_k.weight"].shape[1]
        depth = len(_indices(sd, tp + "transformer_blocks"))
        linear_proj = sd[tp + "proj_in.weight"].dim() == 2
        heads = int(meta.get("huabu.unet_heads", 8))
        return UNetConfig(cin, cout, mc, mult, per_level[0], attn_levels, ctx, depth,
                          heads, linear_proj)


def timestep_embedding(t, dim, max_period=10000.0):
    """Sinusoidal embedding, ldm order [cos, sin] (diffusers flip_sin_to_cos=True,
    downscale_freq_shift=0): freqs_i = exp(-ln(max_period) * i / half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def norm_groups(meta, part):
    """GroupNorm groups of "unet" or "vae" (32 in SD 1.x)."""
    return int(meta.get(f"huabu.{part}_norm_groups", 32))


def res_block(sd, p, x, emb, groups=32, eps=1e-5):
    """ldm ResBlock: GroupNorm32(groups)+SiLU, conv3x3, + Linear(SiLU(emb)),
    GroupNorm32+SiLU, conv3x3, plus the (1x1 conv when channels change) skip."""
    h = conv(sd, p + "in_layers.2", F.silu(group_norm(sd, p + "in_layers.0", x, eps, groups)))
    h = h + linear(sd, p + "emb_layers.1", F.silu(emb))[:, :, None, None]
    h = conv(sd, p + "out_layers.3", F.silu(group_norm(sd, p + "out_layers.0", h, eps, groups)))
    skip = conv(sd, p + "skip_connection", x) if p + "skip_connection.weight" in sd else x
    return skip + h


def spatial_transformer(sd, p, x, ctx, heads, groups=32):
    """ldm SpatialTransformer: GroupNorm(groups, eps 1e-6), proj_in, transformer
    blocks (self-attn, cross-attn, GEGLU feed-forward; LayerNorm eps 1e-5,
    pre-norm, residual), proj_out, plus the input."""
    b, c, hh, ww = x.shape
    h = group_norm(sd, p + "norm", x, 1e-6, groups)
    linear_proj = sd[p + "proj_in.weight"].dim() == 2
    if linear_proj:
        h = linear(sd, p + "proj_in", h.permute(0, 2, 3, 1).reshape(b, hh * ww, c))
    else:
        h = conv(sd, p + "proj_in", h)
        h = h.permute(0, 2, 3, 1).reshape(b, hh * ww, -1)
    for i in _indices(sd, p + "transformer_blocks"):
        tp = p + f"transformer_blocks.{i}."
        n = layer_norm(sd, tp + "norm1", h)
        h = h + linear(sd, tp + "attn1.to_out.0",
                       attention(linear(sd, tp + "attn1.to_q", n), linear(sd, tp + "attn1.to_k", n),
                                 linear(sd, tp + "attn1.to_v", n), heads))
        n = layer_norm(sd, tp + "norm2", h)
        h = h + linear(sd, tp + "attn2.to_out.0",
                       attention(linear(sd, tp + "attn2.to_q", n), linear(sd, tp + "attn2.to_k", ctx),
                                 linear(sd, tp + "attn2.to_v", ctx), heads))
        n = layer_norm(sd, tp + "norm3", h)
        a, gate = linear(sd, tp + "ff.net.0.proj", n).chunk(2, dim=-1)
        h = h + linear(sd, tp + "ff.net.2", a * F.gelu(gate))
    if linear_proj:
        h = linear(sd, p + "proj_out", h).reshape(b, hh, ww, c).permute(0, 3, 1, 2)
    else:
        h = conv(sd, p + "proj_out", h.reshape(b, hh, ww, -1).permute(0, 3, 1, 2))
    return h + x


def unet_layer(sd, p, x, emb, ctx, heads, groups=32):
    """One child of an input/middle/output block, recognised by its keys."""
    if p + "in_layers.0.weight" in sd:
        return res_block(sd, p, x, emb, groups)
    if p + "proj_in.weight" in sd:
        return spatial_transformer(sd, p, x, ctx, heads, groups)
    if p + "op.weight" in sd:
        return conv(sd, p + "op", x, stride=2, padding=1)
    if p + "conv.weight" in sd:
        return conv(sd, p + "conv", F.interpolate(x, scale_factor=2.0, mode="nearest"))
    raise ValueError(f"unknown UNet layer {p}")


def coord_planes(b, h, w):
    """[b, 2, h, w]: x then y of each latent pixel's centre, -1 (left/top) .. 1."""
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) * (2.0 / w) - 1.0
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) * (2.0 / h) - 1.0
    return torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)])[None].expand(b, 2, h, w)


def unet_input(meta, x):
    """huabu.unet_coord_channels = 2 (Huabu's own small models): the UNet's
    first convolution also reads two planes holding each pixel's x and y, as
    an inpainting UNet reads its mask. Without them a UNet knows where it is
    only through the zero padding of its convolutions, which a small model
    trained briefly never learns to use, so it cannot place objects."""
    n = int(meta.get("huabu.unet_coord_channels", 0))
    if n == 0:
        return x
    if n != 2:
        raise ValueError(f"huabu.unet_coord_channels must be 0 or 2, not {n}")
    return torch.cat([x, coord_planes(x.shape[0], x.shape[2], x.shape[3]).to(x.dtype)], dim=1)


def unet_forward(sd, meta, x, t, ctx):
    """x [B, 4, h, w] (already multiplied by c_in), t [B] float timesteps,
    ctx [B, 77, context_dim] -> model output [B, 4, h, w] (eps or v)."""
    p = UNET_PREFIX
    heads = int(meta.get("huabu.unet_heads", 8))
    groups = norm_groups(meta, "unet")
    mc = sd[p + "input_blocks.0.0.weight"].shape[0]
    emb = linear(sd, p + "time_embed.2",
                 F.silu(linear(sd, p + "time_embed.0", timestep_embedding(t, mc))))

    def block(bp, h):
        for j in _indices(sd, bp):
            h = unet_layer(sd, f"{bp}.{j}.", h, emb, ctx, heads, groups)
        return h

    h = conv(sd, p + "input_blocks.0.0", unet_input(meta, x))
    skips = [h]
    for i in _indices(sd, p + "input_blocks")[1:]:
        h = block(p + f"input_blocks.{i}", h)
        skips.append(h)
    h = block(p + "middle_block", h)
    for i in _indices(sd, p + "output_blocks"):
        h = block(p + f"output_blocks.{i}", torch.cat([h, skips.pop()], dim=1))
    return conv(sd, p + "out.2", F.silu(group_norm(sd, p + "out.0", h, 1e-5, groups)))


# ---------------------------------------------------------------------------
# VAE (ldm AutoencoderKL: first_stage_model.*)

VAE_PREFIX = "first_stage_model."


@dataclass
class VAEConfig:
    ch: int
    ch_mult: list
    num_res_blocks: int
    z_channels: int
    scale_factor: float

    @staticmethod
    def derive(sd, meta):
        p = VAE_PREFIX + "encoder."
        ch = sd[p + "conv_in.weight"].shape[0]
        levels = _indices(sd, p + "down")
        mult = [sd[p + f"down.{i}.block.0.conv2.weight"].shape[0] // ch for i in levels]
        nrb = len(_indices(sd, p + "down.0.block"))
        z = sd[VAE_PREFIX + "post_quant_conv.weight"].shape[0]
        scale = float(meta.get("huabu.vae_scale_factor", 0.18215))
        return VAEConfig(ch, mult, nrb, z, scale)


def vae_res_block(sd, p, x, groups=32):
    """ldm ResnetBlock without time embedding: GN(groups, eps 1e-6)+SiLU, conv,
    GN+SiLU, conv, plus nin_shortcut (1x1) when channels change."""
    h = conv(sd, p + "conv1", F.silu(group_norm(sd, p + "norm1", x, 1e-6, groups)))
    h = conv(sd, p + "conv2", F.silu(group_norm(sd, p + "norm2", h, 1e-6, groups)))
    skip = conv(sd, p + "nin_shortcut", x) if p + "nin_shortcut.weight" in sd else x
    return skip + h


def vae_attn(sd, p, x, groups=32):
    """Single-head self-attention over all pixels with 1x1-conv q/k/v/proj_out."""
    b, c, hh, ww = x.shape
    h = group_norm(sd, p + "norm", x, 1e-6, groups)
    q = conv(sd, p + "q", h).reshape(b, c, hh * ww).transpose(1, 2)
    k = conv(sd, p + "k", h).reshape(b, c, hh * ww).transpose(1, 2)
    v = conv(sd, p + "v", h).reshape(b, c, hh * ww).transpose(1, 2)
    out = attention(q, k, v, 1).transpose(1, 2).reshape(b, c, hh, ww)
    return x + conv(sd, p + "proj_out", out)


def _vae_mid(sd, p, h, groups):
    h = vae_res_block(sd, p + "mid.block_1.", h, groups)
    h = vae_attn(sd, p + "mid.attn_1.", h, groups)
    return vae_res_block(sd, p + "mid.block_2.", h, groups)


def vae_encode(sd, meta, image):
    """image [B, 3, H, W] in [-1, 1] -> (mean, logvar) of the posterior,
    each [B, z, H/8, W/8], NOT yet multiplied by the scale factor."""
    p = VAE_PREFIX + "encoder."
    groups = norm_groups(meta, "vae")
    h = conv(sd, p + "conv_in", image)
    for i in _indices(sd, p + "down"):
        for j in _indices(sd, p + f"down.{i}.block"):
            h = vae_res_block(sd, p + f"down.{i}.block.{j}.", h, groups)
        if p + f"down.{i}.downsample.conv.weight" in sd:
            # ldm pads right and bottom only, then a stride-2 conv without padding.
            h = conv(sd, p + f"down.{i}.downsample.conv", F.pad(h, (0, 1, 0, 1)),
                     stride=2, padding=0)
    h = _vae_mid(sd, p, h, groups)
    h = conv(sd, p + "conv_out", F.silu(group_norm(sd, p + "norm_out", h, 1e-6, groups)))
    moments = conv(sd, VAE_PREFIX + "quant_conv", h)
    mean, logvar = moments.chunk(2, dim=1)
    return mean, logvar.clamp(-30.0, 20.0)


def vae_decode(sd, meta, z):
    """z [B, 4, h, w] UNSCALED latent (latent / scale_factor) -> image [B, 3, 8h, 8w]
    in about [-1, 1], not clamped."""
    p = VAE_PREFIX + "decoder."
    groups = norm_groups(meta, "vae")
    h = conv(sd, VAE_PREFIX + "post_quant_conv", z)
    h = conv(sd, p + "conv_in", h)
    h = _vae_mid(sd, p, h, groups)
    for i in reversed(_indices(sd, p + "up")):
        for j in _indices(sd, p + f"up.{i}.block"):
            h = vae_res_block(sd, p + f"up.{i}.block.{j}.", h, groups)
        if p + f"up.{i}.upsample.conv.weight" in sd:
            h = conv(sd, p + f"up.{i}.upsample.conv",
                     F.interpolate(h, scale_factor=2.0, mode="nearest"))
    return conv(sd, p + "conv_out", F.silu(group_norm(sd, p + "norm_out", h, 1e-6, groups)))


def image_to_tensor(rgb):
    """uint8 array [H, W, 3] -> [1, 3, H, W] in [-1, 1]."""
    t = torch.from_numpy(np.asarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    return t / 127.5 - 1.0


def tensor_to_image(x):
    """[1, 3, H, W] in [-1, 1] -> uint8 [H, W, 3]: clamp((x+1)/2, 0, 1)*255, rounded."""
    x = ((x[0].clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 0).numpy()


# ---------------------------------------------------------------------------
# Noise schedule (k-diffusion CompVisDenoiser conventions)

def alphas_cumprod(n=1000, beta_start=0.00085, beta_end=0.012):
    """scaled-linear betas: linspace(sqrt(start), sqrt(end), n)^2 (computed in
    float64, then the cumulative product of 1 - beta, stored as float32)."""
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, n, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


class Schedule:
    """sigma_t = sqrt((1 - ac_t) / ac_t) for t = 0..999; the model works in
    k-diffusion coordinates x = x_ddpm / sqrt(ac)."""

    def __init__(self):
        self.ac = alphas_cumprod()
        self.sigmas = ((1 - self.ac) / self.ac) ** 0.5
        self.log_sigmas = self.sigmas.log()

    @property
    def sigma_min(self):
        return float(self.sigmas[0])

    @property
    def sigma_max(self):
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma):
        """Continuous timestep: linear interpolation of log sigma between the
        two table entries around it (k-diffusion DiscreteSchedule.sigma_to_t)."""
        log_sigma = torch.as_tensor(sigma, dtype=torch.float32).log()
        dists = log_sigma - self.log_sigmas[:, None]
        low = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high = low + 1
        lo, hi = self.log_sigmas[low], self.log_sigmas[high]
        w = ((lo - log_sigma) / (lo - hi)).clamp(0, 1)
        t = (1 - w) * low + w * high
        return t.view(torch.as_tensor(sigma).shape)

    def t_to_sigma(self, t):
        """sigma at a fractional timestep: interpolate log sigma linearly."""
        t = torch.as_tensor(t, dtype=torch.float32)
        low = t.floor().long()
        high = t.ceil().long()
        w = t - low
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()

    def discrete(self, n):
        """A1111 'Automatic'/k-diffusion get_sigmas: t = linspace(999, 0, n), then 0."""
        t = torch.linspace(len(self.sigmas) - 1, 0, n)
        return torch.cat([self.t_to_sigma(t), torch.zeros(1)])

    def karras(self, n, rho=7.0):
        """Karras et al. 2022: (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho, then 0.
        sigma_min/max are the model's (0.0292 / 14.6146 for SD)."""
        ramp = torch.linspace(0, 1, n)
        lo = self.sigma_min ** (1 / rho)
        hi = self.sigma_max ** (1 / rho)
        return torch.cat([(hi + ramp * (lo - hi)) ** rho, torch.zeros(1)])

    def ddim_sigmas(self, n):
        """DDIM keeps diffusers' DDIMScheduler timesteps for SD 1.x
        (timestep_spacing 'leading', steps_offset 1, set_alpha_to_one False):
        t_i = (n-1-i) * (1000 // n) + 1, and the step after the last one goes
        to ac[0] (sigma_min), not to sigma 0."""
        c = len(self.sigmas) // n
        ts = [(n - 1 - i) * c + 1 for i in range(n)]
        return torch.cat([self.sigmas[ts], self.sigmas[:1]])

    def get(self, schedule, n):
        return {"discrete": self.discrete, "karras": self.karras}[schedule](n)


# ---------------------------------------------------------------------------
# The model: text conditioning, denoiser with CFG, samplers

class Model:
    """A loaded single-file checkpoint."""

    def __init__(self, sd, meta, tokenizer=None):
        self.sd = sd
        self.meta = meta
        self.tokenizer = tokenizer
        self.schedule = Schedule()
        self.text_cfg = TextConfig.derive(sd, meta)
        self.unet_cfg = UNetConfig.derive(sd, meta)
        self.vae_cfg = VAEConfig.derive(sd, meta)
        self.prediction = meta.get("huabu.prediction_type", "epsilon")
        self.pad = int(meta["huabu.pad_token"]) if "huabu.pad_token" in meta else None

    @classmethod
    def load(cls, path, tokenizer=None):
        sd, meta = load_safetensors(path)
        return cls(sd, meta, tokenizer)

    def tokens(self, prompt):
        return torch.tensor([self.tokenizer(prompt, self.text_cfg.context, self.pad)],
                            dtype=torch.int32)

    def encode_prompt(self, prompt, clip_skip=1):
        return text_encode(self.sd, self.meta, self.tokens(prompt), clip_skip)

    def denoise(self, x, sigma, ctx):
        """k-diffusion denoiser: x0 estimate at noise level sigma (a float).
        eps:  c_in = 1/sqrt(sigma^2+1), D = x - sigma * eps(x c_in, t(sigma))
        v:    c_skip = 1/(sigma^2+1), c_out = -sigma/sqrt(sigma^2+1),
              D = c_skip x + c_out v(x c_in, t(sigma))   (sigma_data = 1)"""
        s = torch.tensor([sigma] * x.shape[0], dtype=torch.float32)
        c_in = 1.0 / (sigma ** 2 + 1.0) ** 0.5
        t = self.schedule.sigma_to_t(s)
        out = unet_forward(self.sd, self.meta, x * c_in, t, ctx)
        if self.prediction == "v_prediction":
            return x / (sigma ** 2 + 1.0) + out * (-sigma / (sigma ** 2 + 1.0) ** 0.5)
        return x - out * sigma

    def cfg_denoise(self, x, sigma, cond, uncond, scale):
        """Classifier-free guidance: D_u + scale (D_c - D_u), both in one batch
        [uncond, cond]. Mixing x0 estimates equals mixing eps (linear in eps)."""
        d = self.denoise(torch.cat([x, x]), sigma, torch.cat([uncond, cond]))
        du, dc = d.chunk(2)
        return du + scale * (dc - du)


def _step_tensors(sigmas):
    return [float(s) for s in sigmas]


def ancestral_step(sigma, sigma_next, eta=1.0):
    """k-diffusion get_ancestral_step: split the step to sigma_next into a
    deterministic part down to sigma_down and fresh noise of std sigma_up."""
    if sigma_next == 0:
        return 0.0, 0.0
    up = min(sigma_next, eta * (sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2) ** 0.5)
    down = (sigma_next ** 2 - up ** 2) ** 0.5
    return down, up


def sample(denoiser, x, sigmas, sampler, generator, callback=None):
    """Runs `sampler` over the sigma list (x already at sigmas[0]).

    denoiser(x, sigma) -> x0 estimate. generator: the same torch.Generator that
    made the initial noise; every fresh noise draw is its next
    torch.randn(x.shape) call (NCHW order). callback(i, sigma, denoised)."""
    s = _step_tensors(sigmas)
    old_denoised = None
    for i in range(len(s) - 1):
        sigma, sigma_next = s[i], s[i + 1]
        denoised = denoiser(x, sigma)
        if callback:
            callback(i, sigma, denoised)
        if sampler in ("euler", "ddim"):
            # Euler on the probability-flow ODE dx/dsigma = (x - D)/sigma. DDIM
            # with eta 0 is exactly this step in these coordinates
            # (x_next = D + sigma_next * eps); it differs only by its own sigma
            # list (Schedule.ddim_sigmas).
            d = (x - denoised) / sigma
            x = x + d * (sigma_next - sigma)
        elif sampler == "euler_a":
            # Euler ancestral (k-diffusion sample_euler_ancestral, eta 1).
            down, up = ancestral_step(sigma, sigma_next)
            d = (x - denoised) / sigma
            x = x + d * (down - sigma)
            if sigma_next > 0:
                x = x + torch.randn(x.shape, generator=generator) * up
        elif sampler == "dpmpp_2m":
            # DPM-Solver++(2M) (k-diffusion sample_dpmpp_2m), with lambda = -log sigma:
            # h = lambda_next - lambda; first step and the last (to sigma 0) are
            # first order; otherwise D' = (1 + 1/(2r)) D - 1/(2r) D_old, r = h_last/h;
            # x = (sigma_next/sigma) x - expm1(-h) D'.
            if sigma_next == 0:
                x = denoised
            else:
                h = math.log(sigma) - math.log(sigma_next)
                if old_denoised is None:
                    d = denoised
                else:
                    h_last = math.log(s[i - 1]) - math.log(sigma)
                    r = h_last / h
                    d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
                x = (sigma_next / sigma) * x - math.expm1(-h) * d
            old_denoised = denoised
        elif sampler == "lcm":
            # LCM as k-diffusion/ComfyUI sample_lcm: jump to the x0 estimate,
            # then re-noise to sigma_next with fresh noise.
            x = denoised
            if sigma_next > 0:
                x = x + torch.randn(x.shape, generator=generator) * sigma_next
        else:
            raise ValueError(f"unknown sampler {sampler}")
    return x


SAMPLERS = ("euler", "euler_a", "dpmpp_2m", "ddim", "lcm")


def sigmas_for(model, sampler, schedule, steps):
    if sampler == "ddim":
        return model.schedule.ddim_sigmas(steps)
    return model.schedule.get(schedule, steps)


def generate(model, prompt, negative="", seed=0, steps=20, cfg=7.0, sampler="euler_a",
             schedule="discrete", width=512, height=512, clip_skip=1,
             init_image=None, strength=0.75, callback=None):
    """Prompt (and optional init image) -> (uint8 image [H, W, 3], final latent).

    txt2img: g = torch.Generator().manual_seed(seed);
             x = randn([1, 4, H/8, W/8], g) * sigmas[0].
    DDIM's final sigma is sigma_min, and its result is scaled to the DDPM
    latent x * sqrt(ac[0]) = x / sqrt(sigma_min^2 + 1) before decoding, as
    diffusers returns it.
    img2img (A1111): sigmas for the full `steps`; t_enc = int(min(strength,
    0.999) * steps); run sigmas[steps - t_enc - 1:] (t_enc + 1 steps);
    x = scale * encode(init).mean + randn([1, 4, h, w], g) * that first sigma.
    The text conditioning uses `prompt` and `negative` (empty string is the
    unconditional prompt as usual)."""
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        cond = model.encode_prompt(prompt, clip_skip)
        uncond = model.encode_prompt(negative, clip_skip)
        sigmas = sigmas_for(model, sampler, schedule, steps)
        shape = [1, 4, height // 8, width // 8]
        if init_image is not None:
            t_enc = int(min(strength, 0.999) * steps)
            sigmas = sigmas[steps - t_enc - 1:]
            mean, _ = vae_encode(model.sd, model.meta, image_to_tensor(init_image))
            x = mean * model.vae_cfg.scale_factor + torch.randn(shape, generator=g) * sigmas[0]
        else:
            x = torch.randn(shape, generator=g) * sigmas[0]

        def denoiser(xx, sigma):
            return model.cfg_denoise(xx, sigma, cond, uncond, cfg)

        x = sample(denoiser, x, sigmas, sampler, g, callback)
        if sampler == "ddim":
            x = x / (float(sigmas[-1]) ** 2 + 1.0) ** 0.5
        image = vae_decode(model.sd, model.meta, x / model.vae_cfg.scale_factor)
    return tensor_to_image(image), x


# ---------------------------------------------------------------------------
# Random checkpoints of the family (for goldens and as a training start)

@dataclass
class FamilyConfig:
    vocab: int = 49408
    text_width: int = 768
    text_layers: int = 12
    text_heads: int = 12
    text_context: int = 77
    model_channels: int = 320
    channel_mult: list = field(default_factory=lambda: [1, 2, 4, 4])
    num_res_blocks: int = 2
    attention_levels: list = field(default_factory=lambda: [0, 1, 2])
    unet_heads: int = 8
    transformer_depth: int = 1
    linear_proj: bool = False
    vae_ch: int = 128
    vae_ch_mult: list = field(default_factory=lambda: [1, 2, 4, 4])
    vae_res_blocks: int = 2
    z_channels: int = 4
    vae_scale_factor: float = 0.18215
    unet_norm_groups: int = 32
    vae_norm_groups: int = 32
    unet_coord_channels: int = 0

    def metadata(self):
        meta = {"huabu.text_heads": self.text_heads, "huabu.unet_heads": self.unet_heads,
                "huabu.vae_scale_factor": self.vae_scale_factor,
                "huabu.prediction_type": "epsilon"}
        if self.unet_coord_channels:
            meta["huabu.unet_coord_channels"] = self.unet_coord_channels
        for part in ("unet", "vae"):
            if getattr(self, f"{part}_norm_groups") != 32:
                meta[f"huabu.{part}_norm_groups"] = getattr(self, f"{part}_norm_groups")
        return meta


def family_shapes(c):
    """{ldm key: shape} of a checkpoint with config c."""
    s = {}

    def lin(name, cin, cout, bias=True):
        s[name + ".weight"] = (cout, cin)
        if bias:
            s[name + ".bias"] = (cout,)

    def cnv(name, cin, cout, k=3):
        s[name + ".weight"] = (cout, cin, k, k)
        s[name + ".bias"] = (cout,)

    def norm(name, ch):
        s[name + ".weight"] = (ch,)
        s[name + ".bias"] = (ch,)

    tp = TEXT_PREFIX
    w = c.text_width
    s[tp + "embeddings.token_embedding.weight"] = (c.vocab, w)
    s[tp + "embeddings.position_embedding.weight"] = (c.text_context, w)
    for i in range(c.text_layers):
        lp = tp + f"encoder.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            lin(lp + "self_attn." + n, w, w)
        norm(lp + "layer_norm1", w)
        norm(lp + "layer_norm2", w)
        lin(lp + "mlp.fc1", w, 4 * w)
        lin(lp + "mlp.fc2", 4 * w, w)
    norm(tp + "final_layer_norm", w)

    up = UNET_PREFIX
    mc = c.model_channels
    ted = 4 * mc

    def resb(p, cin, cout):
        norm(p + "in_layers.0", cin)
        cnv(p + "in_layers.2", cin, cout)
        lin(p + "emb_layers.1", ted, cout)
        norm(p + "out_layers.0", cout)
        cnv(p + "out_layers.3", cout, cout)
        if cin != cout:
            cnv(p + "skip_connection", cin, cout, 1)

    def trans(p, ch):
        norm(p + "norm", ch)
        if c.linear_proj:
            lin(p + "proj_in", ch, ch)
            lin(p + "proj_out", ch, ch)
        else:
            cnv(p + "proj_in", ch, ch, 1)
            cnv(p + "proj_out", ch, ch, 1)
        for d in range(c.transformer_depth):
            bp = p + f"transformer_blocks.{d}."
            for a, kv in (("attn1", ch), ("attn2", c.text_width)):
                lin(bp + a + ".to_q", ch, ch, False)
                lin(bp + a + ".to_k", kv, ch, False)
                lin(bp + a + ".to_v", kv, ch, False)
                lin(bp + a + ".to_out.0", ch, ch)
            for n in ("norm1", "norm2", "norm3"):
                norm(bp + n, ch)
            lin(bp + "ff.net.0.proj", ch, 8 * ch)
            lin(bp + "ff.net.2", 4 * ch, ch)

    lin(up + "time_embed.0", mc, ted)
    lin(up + "time_embed.2", ted, ted)
    cnv(up + "input_blocks.0.0", 4 + c.unet_coord_channels, mc)
    chans = [mc]
    ch = mc
    k = 1
    for lvl, m in enumerate(c.channel_mult):
        for _ in range(c.num_res_blocks):
            resb(up + f"input_blocks.{k}.0.", ch, m * mc)
            ch = m * mc
            if lvl in c.attention_levels:
                trans(up + f"input_blocks.{k}.1.", ch)
            chans.append(ch)
            k += 1
        if lvl != len(c.channel_mult) - 1:
            cnv(up + f"input_blocks.{k}.0.op", ch, ch)
            chans.append(ch)
            k += 1
    resb(up + "middle_block.0.", ch, ch)
    trans(up + "middle_block.1.", ch)
    resb(up + "middle_block.2.", ch, ch)
    k = 0
    for lvl in reversed(range(len(c.channel_mult))):
        m = c.channel_mult[lvl]
        for r in range(c.num_res_blocks + 1):
            resb(up + f"output_blocks.{k}.0.", ch + chans.pop(), m * mc)
            ch = m * mc
            j = 1
            if lvl in c.attention_levels:
                trans(up + f"output_blocks.{k}.1.", ch)
                j = 2
            if lvl and r == c.num_res_blocks:
                cnv(up + f"output_blocks.{k}.{j}.conv", ch, ch)
            k += 1
    norm(up + "out.0", ch)
    cnv(up + "out.2", ch, 4)

    vp = VAE_PREFIX

    def vres(p, cin, cout):
        norm(p + "norm1", cin)
        cnv(p + "conv1", cin, cout)
        norm(p + "norm2", cout)
        cnv(p + "conv2", cout, cout)
        if cin != cout:
            cnv(p + "nin_shortcut", cin, cout, 1)

    def vmid(p, ch):
        vres(p + "mid.block_1.", ch, ch)
        norm(p + "mid.attn_1.norm", ch)
        for n in ("q", "k", "v", "proj_out"):
            cnv(p + "mid.attn_1." + n, ch, ch, 1)
        vres(p + "mid.block_2.", ch, ch)

    vc = c.vae_ch
    nl = len(c.vae_ch_mult)
    ep = vp + "encoder."
    cnv(ep + "conv_in", 3, vc)
    ch = vc
    for i, m in enumerate(c.vae_ch_mult):
        for j in range(c.vae_res_blocks):
            vres(ep + f"down.{i}.block.{j}.", ch, m * vc)
            ch = m * vc
        if i != nl - 1:
            cnv(ep + f"down.{i}.downsample.conv", ch, ch)
    vmid(ep, ch)
    norm(ep + "norm_out", ch)
    cnv(ep + "conv_out", ch, 2 * c.z_channels)
    cnv(vp + "quant_conv", 2 * c.z_channels, 2 * c.z_channels, 1)
    cnv(vp + "post_quant_conv", c.z_channels, c.z_channels, 1)
    dp = vp + "decoder."
    ch = vc * c.vae_ch_mult[-1]
    cnv(dp + "conv_in", c.z_channels, ch)
    vmid(dp, ch)
    for i in reversed(range(nl)):
        m = c.vae_ch_mult[i]
        for j in range(c.vae_res_blocks + 1):
            vres(dp + f"up.{i}.block.{j}.", ch, m * vc)
            ch = m * vc
        if i != 0:
            cnv(dp + f"up.{i}.upsample.conv", ch, ch)
    norm(dp + "norm_out", ch)
    cnv(dp + "conv_out", ch, 3)
    return s


def init_family(c, generator, norm_jitter=0.0):
    """Random weights with PyTorch's default scales: Linear/Conv uniform in
    +-1/sqrt(fan_in), embeddings N(0, 0.02), norms weight 1 bias 0 (plus
    norm_jitter * N(0,1), so goldens exercise the affine parameters)."""
    sd = {}
    shapes = family_shapes(c)
    for name, shape in shapes.items():
        if "embedding" in name:
            t = torch.randn(shape, generator=generator) * 0.02
        elif len(shapes[name.rsplit(".", 1)[0] + ".weight"]) == 1:
            base = 1.0 if name.endswith("weight") else 0.0
            t = base + norm_jitter * torch.randn(shape, generator=generator)
        else:
            wshape = shapes[name.rsplit(".", 1)[0] + ".weight"]
            fan_in = int(np.prod(wshape[1:]))
            bound = 1.0 / fan_in ** 0.5
            t = (torch.rand(shape, generator=generator) * 2 - 1) * bound
        sd[name] = t.float()
    return sd
