# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes the golden files in tests/golden/ (see tests/golden/README.md).

A tiny random checkpoint of the SD 1.x family in the single-file ldm layout
and, with the same weights, as a diffusers folder; module inputs/outputs; and
whole-pipeline results, all computed by sd_reference.py.

Usage: /usr/bin/python3 tests/reference/make_goldens.py
"""

import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")
MODELS = os.path.join(ROOT, "data", "models")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(MODELS, "scripts"))

import sd_reference as ref  # noqa: E402

PROMPT = "a large red circle in the top left on a white background"
NEGATIVE = "a small blue square"
SEED = 42
STEPS = 12
CFG = 5.0
SIZE = 64


def tiny_config(vocab):
    """Attention on every level but the last, as SD 1.x: covers upsample convs
    at output_blocks.k.1 (no attention) and .k.2 (after attention). Weights are
    stored as F16, which keeps the two copies under the goldens' size budget.
    GroupNorm groups other than SD's 32 (as the built-in model has) come from
    the metadata and from the diffusers configs' norm_num_groups."""
    return ref.FamilyConfig(
        vocab=vocab, text_width=64, text_layers=2, text_heads=2, text_context=77,
        model_channels=32, channel_mult=[1, 1, 1], num_res_blocks=1,
        attention_levels=[0, 1], unet_heads=2, transformer_depth=1,
        vae_ch=32, vae_ch_mult=[1, 1, 1, 1], vae_res_blocks=1, z_channels=4,
        vae_scale_factor=0.18215, unet_norm_groups=16, vae_norm_groups=8)


# --- ldm -> diffusers key names (as diffusers' convert_original_stable_diffusion script)

def _resnet_names(name):
    for a, b in (("in_layers.0", "norm1"), ("in_layers.2", "conv1"),
                 ("emb_layers.1", "time_emb_proj"), ("out_layers.0", "norm2"),
                 ("out_layers.3", "conv2"), ("skip_connection", "conv_shortcut")):
        name = name.replace(a, b)
    return name


def unet_key(key, c):
    """ldm UNet key (without model.diffusion_model.) -> diffusers unet key."""
    per = c.num_res_blocks + 1
    parts = key.split(".")
    if key.startswith("time_embed."):
        return {"0": "time_embedding.linear_1", "2": "time_embedding.linear_2"}[parts[1]] + "." + parts[2]
    if key.startswith("input_blocks.0.0."):
        return "conv_in." + parts[-1]
    if key.startswith("out."):
        return {"0": "conv_norm_out", "2": "conv_out"}[parts[1]] + "." + parts[2]
    rest = ".".join(parts[3:])
    if parts[0] == "input_blocks":
        i, j = int(parts[1]), int(parts[2])
        level, layer = (i - 1) // per, (i - 1) % per
        if layer == c.num_res_blocks:
            return f"down_blocks.{level}.downsamplers.0.conv." + parts[-1]
        if j == 0:
            return f"down_blocks.{level}.resnets.{layer}." + _resnet_names(rest)
        return f"down_blocks.{level}.attentions.{layer}." + rest
    if parts[0] == "middle_block":
        j = int(parts[1])
        rest = ".".join(parts[2:])
        if j == 1:
            return "mid_block.attentions.0." + rest
        return f"mid_block.resnets.{j // 2}." + _resnet_names(rest)
    if parts[0] == "output_blocks":
        i, j = int(parts[1]), int(parts[2])
        level, layer = i // per, i % per
        if rest.startswith("conv."):
            return f"up_blocks.{level}.upsamplers.0." + rest
        if j == 0:
            return f"up_blocks.{level}.resnets.{layer}." + _resnet_names(rest)
        return f"up_blocks.{level}.attentions.{layer}." + rest
    raise KeyError(key)


def vae_key(key, n_levels):
    """ldm VAE key (without first_stage_model.) -> diffusers vae key."""
    parts = key.split(".")
    if parts[0] in ("quant_conv", "post_quant_conv"):
        return key
    side = parts[0]
    rest = parts[1:]
    if rest[0] in ("down", "up"):
        i = int(rest[1])
        blocks = "down_blocks" if rest[0] == "down" else "up_blocks"
        level = i if rest[0] == "down" else n_levels - 1 - i
        if rest[2] == "block":
            tail = ".".join(rest[4:]).replace("nin_shortcut", "conv_shortcut")
            return f"{side}.{blocks}.{level}.resnets.{rest[3]}.{tail}"
        sampler = "downsamplers" if rest[2] == "downsample" else "upsamplers"
        return f"{side}.{blocks}.{level}.{sampler}.0." + ".".join(rest[3:])
    if rest[0] == "mid":
        if rest[1].startswith("block_"):
            return f"{side}.mid_block.resnets.{int(rest[1][-1]) - 1}." + ".".join(rest[2:]).replace(
                "nin_shortcut", "conv_shortcut")
        sub = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}[rest[2]]
        return f"{side}.mid_block.attentions.0.{sub}.{rest[3]}"
    if rest[0] == "norm_out":
        return f"{side}.conv_norm_out.{rest[1]}"
    return key


def write_diffusers(folder, sd, c, vocab_path, merges_path):
    """The same weights in a diffusers folder (fp16 safetensors + configs)."""
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    for sub in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        os.makedirs(os.path.join(folder, sub))
    parts = {"unet": {}, "vae": {}, "text_encoder": {}}
    for k, v in sd.items():
        if k.startswith(ref.UNET_PREFIX):
            parts["unet"][unet_key(k[len(ref.UNET_PREFIX):], c)] = v
        elif k.startswith(ref.VAE_PREFIX):
            name = vae_key(k[len(ref.VAE_PREFIX):], len(c.vae_ch_mult))
            # diffusers stores the VAE attention's 1x1 convs as linear weights.
            if ".mid_block.attentions.0." in name and v.dim() == 4:
                v = v[:, :, 0, 0]
            parts["vae"][name] = v
        elif k.startswith("cond_stage_model.transformer."):
            parts["text_encoder"][k[len("cond_stage_model.transformer."):]] = v
        else:
            raise KeyError(k)
    for sub, tensors in parts.items():
        n = sum(1 for k in sd if k.startswith({"unet": ref.UNET_PREFIX, "vae": ref.VAE_PREFIX,
                                               "text_encoder": ref.TEXT_PREFIX}[sub]))
        assert len(tensors) == n, f"{sub}: key names collided"
        name = "diffusion_pytorch_model.safetensors" if sub != "text_encoder" else "model.safetensors"
        ref.save_safetensors(os.path.join(folder, sub, name), tensors, dtype=np.float16)

    mc = c.model_channels
    down = ["CrossAttnDownBlock2D" if i in c.attention_levels else "DownBlock2D"
            for i in range(len(c.channel_mult))]
    up = ["CrossAttnUpBlock2D" if i in c.attention_levels else "UpBlock2D"
          for i in reversed(range(len(c.channel_mult)))]
    configs = {
        "model_index.json": {
            "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.21.0",
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
            "scheduler": ["diffusers", "PNDMScheduler"],
            "safety_checker": [None, None], "feature_extractor": [None, None],
            "requires_safety_checker": False},
        "unet/config.json": {
            "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.21.0",
            "sample_size": SIZE // 8, "in_channels": 4, "out_channels": 4,
            "block_out_channels": [m * mc for m in c.channel_mult],
            "layers_per_block": c.num_res_blocks, "cross_attention_dim": c.text_width,
            "attention_head_dim": c.unet_heads, "down_block_types": down, "up_block_types": up,
            "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_num_groups": c.unet_norm_groups, "norm_eps": 1e-5,
            "act_fn": "silu", "center_input_sample": False, "flip_sin_to_cos": True,
            "freq_shift": 0, "downsample_padding": 1, "use_linear_projection": c.linear_proj,
            "transformer_layers_per_block": c.transformer_depth},
        "vae/config.json": {
            "_class_name": "AutoencoderKL", "_diffusers_version": "0.21.0",
            "in_channels": 3, "out_channels": 3, "latent_channels": c.z_channels,
            "block_out_channels": [m * c.vae_ch for m in c.vae_ch_mult],
            "layers_per_block": c.vae_res_blocks,
            "down_block_types": ["DownEncoderBlock2D"] * len(c.vae_ch_mult),
            "up_block_types": ["UpDecoderBlock2D"] * len(c.vae_ch_mult),
            "act_fn": "silu", "norm_num_groups": c.vae_norm_groups, "sample_size": SIZE,
            "scaling_factor": c.vae_scale_factor},
        "text_encoder/config.json": {
            "architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
            "vocab_size": c.vocab, "hidden_size": c.text_width,
            "intermediate_size": 4 * c.text_width, "num_hidden_layers": c.text_layers,
            "num_attention_heads": c.text_heads, "max_position_embeddings": c.text_context,
            "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": c.text_width,
            "bos_token_id": c.vocab - 2, "eos_token_id": c.vocab - 1, "pad_token_id": 1,
            "torch_dtype": "float16"},
        "scheduler/scheduler_config.json": {
            "_class_name": "PNDMScheduler", "_diffusers_version": "0.21.0",
            "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
            "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False,
            "skip_prk_steps": True, "steps_offset": 1, "clip_sample": False},
        "tokenizer/tokenizer_config.json": {
            "tokenizer_class": "CLIPTokenizer", "model_max_length": c.text_context,
            "bos_token": ref.BOS_TEXT, "eos_token": ref.EOS_TEXT, "pad_token": ref.EOS_TEXT,
            "unk_token": ref.EOS_TEXT, "do_lower_case": True},
        "tokenizer/special_tokens_map.json": {
            "bos_token": ref.BOS_TEXT, "eos_token": ref.EOS_TEXT, "pad_token": ref.EOS_TEXT,
            "unk_token": ref.EOS_TEXT},
    }
    for name, obj in configs.items():
        with open(os.path.join(folder, name), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    shutil.copy(vocab_path, os.path.join(folder, "tokenizer", "vocab.json"))
    shutil.copy(merges_path, os.path.join(folder, "tokenizer", "merges.txt"))


def shapes_picture():
    """A rendered scene from the built-in model's data set, at 64x64."""
    import shapes_dataset
    rng = np.random.default_rng(3)
    img, _, _ = shapes_dataset.sample(rng, hand_drawn_p=1.0)
    return np.asarray(Image.fromarray(img).resize((SIZE, SIZE), Image.BOX))


def main():
    torch.manual_seed(0)
    vocab_path = os.path.join(MODELS, "vocab.json")
    merges_path = os.path.join(MODELS, "merges.txt")
    tok = ref.ClipTokenizer.from_files(vocab_path, merges_path)
    c = tiny_config(len(tok.encoder))
    g = torch.Generator().manual_seed(1234)
    sd = ref.init_family(c, g, norm_jitter=0.2)
    # The goldens are computed from exactly the stored (F16) values.
    sd = {k: v.half().float() for k, v in sd.items()}
    meta = {k: str(v) for k, v in c.metadata().items()}

    os.makedirs(GOLDEN, exist_ok=True)
    ckpt = os.path.join(GOLDEN, "tiny-sd.safetensors")
    ref.save_safetensors(ckpt, sd, meta, dtype=np.float16)
    write_diffusers(os.path.join(GOLDEN, "tiny-diffusers"), sd, c, vocab_path, merges_path)

    model = ref.Model.load(ckpt, tok)
    io = {}
    with torch.no_grad():
        ids = model.tokens(PROMPT)
        io["text.ids"] = ids
        io["text.hidden"] = ref.text_encode(model.sd, model.meta, ids, 1)
        io["text.hidden_skip2"] = ref.text_encode(model.sd, model.meta, ids, 2)
        neg = model.tokens(NEGATIVE)
        io["text.neg_ids"] = neg

        x = torch.randn([2, 4, SIZE // 8, SIZE // 8], generator=g)
        t = torch.tensor([999.0, 261.25])
        ctx = torch.cat([io["text.hidden"], ref.text_encode(model.sd, model.meta, neg, 1)])
        io["unet.x"], io["unet.t"], io["unet.ctx"] = x, t, ctx
        io["unet.out"] = ref.unet_forward(model.sd, model.meta, x, t, ctx)
        io["unet.temb"] = ref.timestep_embedding(t, c.model_channels)

        z = torch.randn([1, 4, SIZE // 8, SIZE // 8], generator=g)
        io["vae.z"] = z
        io["vae.image"] = ref.vae_decode(model.sd, model.meta, z / c.vae_scale_factor)
        picture = shapes_picture()
        Image.fromarray(picture).save(os.path.join(GOLDEN, "init-64.png"))
        enc_in = ref.image_to_tensor(picture)
        io["vae.enc_in"] = enc_in
        io["vae.enc_mean"], io["vae.enc_logvar"] = ref.vae_encode(model.sd, model.meta, enc_in)

        sch = model.schedule
        io["sched.alphas_cumprod"] = sch.ac
        io["sched.discrete"] = sch.discrete(20)
        io["sched.karras"] = sch.karras(20)
        io["sched.ddim"] = sch.ddim_sigmas(20)
        io["sched.discrete_t"] = sch.sigma_to_t(sch.discrete(20)[:-1])
        io["rng.seed42_first"] = torch.randn([1, 4, SIZE // 8, SIZE // 8],
                                             generator=torch.Generator().manual_seed(SEED))

    runs = []
    for sampler in ref.SAMPLERS:
        for schedule in ("discrete", "karras"):
            if sampler == "ddim" and schedule == "karras":
                continue
            image, latent = ref.generate(model, PROMPT, NEGATIVE, SEED, STEPS, CFG, sampler,
                                         schedule, SIZE, SIZE)
            name = f"pipe.{sampler}.{schedule}"
            io[name + ".latent"] = latent
            png = f"{sampler}-{schedule}.png"
            Image.fromarray(image).save(os.path.join(GOLDEN, png))
            runs.append({"name": name, "png": png, "sampler": sampler, "schedule": schedule})
    image, latent = ref.generate(model, PROMPT, NEGATIVE, SEED, STEPS, CFG, "euler_a", "discrete",
                                 SIZE, SIZE, init_image=picture, strength=0.6)
    io["pipe.img2img.euler_a.latent"] = latent
    Image.fromarray(image).save(os.path.join(GOLDEN, "img2img-euler_a.png"))
    runs.append({"name": "pipe.img2img.euler_a", "png": "img2img-euler_a.png",
                 "sampler": "euler_a", "schedule": "discrete", "init": "init-64.png",
                 "strength": 0.6})

    # The built-in model's UNet also reads x/y coordinate planes
    # (huabu.unet_coord_channels = 2): the same tiny model with random
    # weights for them, strong enough that ignoring or swapping them shows.
    gc = torch.Generator().manual_seed(4321)
    key = ref.UNET_PREFIX + "input_blocks.0.0.weight"
    w = sd[key]
    extra = (torch.randn(w.shape[0], 2, *w.shape[2:], generator=gc) * 3 * w.std()).half().float()
    csd = dict(sd, **{key: torch.cat([w, extra], dim=1)})
    cpath = os.path.join(GOLDEN, "tiny-coords.safetensors")
    ref.save_safetensors(cpath, csd, dict(meta, **{"huabu.unet_coord_channels": "2"}),
                         dtype=np.float16)
    cmodel = ref.Model.load(cpath, tok)
    image, _ = ref.generate(cmodel, PROMPT, NEGATIVE, SEED, STEPS, CFG, "euler_a", "discrete",
                            SIZE, SIZE)
    Image.fromarray(image).save(os.path.join(GOLDEN, "coords-euler_a.png"))
    runs.append({"name": "pipe.coords.euler_a", "png": "coords-euler_a.png",
                 "model": "tiny-coords.safetensors", "sampler": "euler_a",
                 "schedule": "discrete"})

    io = {k: (v.int() if k.endswith("ids") else v.float()) for k, v in io.items()}
    ref.save_safetensors(os.path.join(GOLDEN, "tiny-io.safetensors"), io)
    with open(os.path.join(GOLDEN, "pipeline.json"), "w") as f:
        json.dump({"model": "tiny-sd.safetensors", "prompt": PROMPT, "negative_prompt": NEGATIVE,
                   "seed": SEED, "steps": STEPS, "cfg": CFG, "width": SIZE, "height": SIZE,
                   "rng": "torch-cpu", "clip_skip": 1, "runs": runs}, f, indent=1)
        f.write("\n")
    print("config:", c)
    total = 0
    for dirpath, _, files in os.walk(GOLDEN):
        total += sum(os.path.getsize(os.path.join(dirpath, n)) for n in files)
    print(f"goldens: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
