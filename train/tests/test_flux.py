"""The X2Edit transformer against diffusers' FluxTransformer2DModel, the BFL naming and the cond-stream rules."""
import os

import pytest
import torch
from diffusers import FluxTransformer2DModel
from safetensors.torch import load_file

from train.common import randomize_, rel_l2
from train.configs import tiny_config
from train.flux import X2EditTransformer, image_ids, pack_latents, text_ids, unpack_latents
from train.flux_bfl import bfl_forward, bfl_to_diffusers, diffusers_to_bfl


def _inputs(cfg, L=64, h=6, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    N = (h // 2) * (w // 2)
    return dict(img=torch.randn(1, N, 64, generator=g), cond=torch.randn(1, N, 64, generator=g),
                txt=torch.randn(1, L, cfg.flux.joint_attention_dim, generator=g),
                pooled=torch.randn(1, cfg.flux.pooled_projection_dim, generator=g),
                t=torch.tensor([0.6]), g=torch.tensor([3.5]), iid=image_ids(h, w), cid=image_ids(h, w, 64),
                tid=text_ids(L))


@pytest.mark.parametrize("guidance", [True, False])
@torch.no_grad()
def test_base_equals_diffusers_without_cond_and_lora(guidance):
    cfg = tiny_config(guidance_embeds=guidance)
    model = X2EditTransformer(cfg.flux, cfg.moe)
    randomize_(model, 7)
    ref = FluxTransformer2DModel(**cfg.flux.diffusers_kwargs())
    ref.load_state_dict(model.base_state_dict())
    i = _inputs(cfg)
    ours = model(i["img"], None, i["txt"], i["pooled"], i["t"], i["g"], i["iid"], None, i["tid"], use_lora=False)
    theirs = ref(hidden_states=i["img"], encoder_hidden_states=i["txt"], pooled_projections=i["pooled"],
                 timestep=i["t"], img_ids=i["iid"], txt_ids=i["tid"], guidance=i["g"] if guidance else None).sample
    assert rel_l2(ours, theirs) < 1e-6


@torch.no_grad()
def test_bfl_names_round_trip_and_bfl_forward():
    cfg = tiny_config()
    model = X2EditTransformer(cfg.flux)
    randomize_(model, 8)
    sd = model.base_state_dict()
    bfl = diffusers_to_bfl(sd, cfg.flux.num_layers, cfg.flux.num_single_layers, True)
    assert bfl["double_blocks.0.img_attn.qkv.weight"].shape == (192, 64)
    assert bfl["single_blocks.1.linear1.weight"].shape == (192 + 256, 64)
    assert bfl["final_layer.adaLN_modulation.1.weight"].shape == (128, 64)
    back = bfl_to_diffusers({"model.diffusion_model." + k: v for k, v in bfl.items()}, 64)
    assert set(back) == set(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
    i = _inputs(cfg)
    ours = model(i["img"], None, i["txt"], i["pooled"], i["t"], i["g"], i["iid"], None, i["tid"])
    theirs = bfl_forward(bfl, i["img"], i["txt"], i["pooled"], i["t"], i["g"], i["iid"], i["tid"], heads=2,
                         axes_dim=cfg.flux.axes_dims_rope)
    assert rel_l2(ours, theirs) < 1e-6


@torch.no_grad()
def test_committed_transformer_files_agree(models_dir, tiny_cfg):
    d = FluxTransformer2DModel.from_pretrained(os.path.join(models_dir, "transformer"), torch_dtype=torch.float32)
    bfl = load_file(os.path.join(models_dir, "transformer-bfl.safetensors"))
    conv = bfl_to_diffusers(bfl, tiny_cfg.flux.hidden)
    sd = d.state_dict()
    assert set(conv) == set(sd) and all(torch.equal(conv[k].float(), sd[k]) for k in sd)
    schnell = load_file(os.path.join(models_dir, "transformer-schnell-bfl.safetensors"))
    assert set(schnell) == {k for k in bfl if not k.startswith("guidance_in.")}


@torch.no_grad()
def test_cond_stream_semantics():
    """cond tokens use t = 0 modulation, share x_embedder, change the noise output, and never leak their own output."""
    cfg = tiny_config()
    model = X2EditTransformer(cfg.flux, cfg.moe)
    randomize_(model, 9)
    i = _inputs(cfg)
    task = torch.tensor([3])
    run = lambda **kw: model(i["img"], kw.get("cond", i["cond"]), i["txt"], i["pooled"], i["t"], i["g"], i["iid"],
                             kw.get("cid", i["cid"]), i["tid"], task_id=kw.get("task", task), debug=kw.get("debug"))
    dbg = {}
    a = run(debug=dbg)
    assert a.shape == i["img"].shape
    T = model.transformer
    assert torch.allclose(dbg["cond_temb"], T.time_text_embed(torch.zeros(1), i["g"] * 1000, i["pooled"]))
    assert torch.allclose(dbg["cond_in"], T.x_embedder(i["cond"]))
    assert rel_l2(run(cond=i["cond"] * 0.5), a) > 1e-3  # cond changes the noise output (no mask)
    assert rel_l2(run(cid=image_ids(6, 10, 0)), a) > 1e-4  # the RoPE offset matters
    assert rel_l2(run(task=torch.tensor([4])), a) > 1e-4  # the task embedding matters
    assert dbg["rope.cos"].shape == (64 + 2 * 15, 32)
    # rows of the RoPE table for cond token (y, x) carry y + 64 on axis 1
    ids = torch.cat([i["tid"], i["iid"], i["cid"]])
    assert float(ids[64 + 15, 1]) == 64.0


def test_pack_unpack_round_trip():
    z = torch.randn(2, 16, 6, 10)
    p = pack_latents(z)
    assert p.shape == (2, 15, 64)
    assert torch.equal(unpack_latents(p, 6, 10), z)
    # token (y, x) channel c*4 + 2*dy + dx holds z[c, 2y+dy, 2x+dx]
    assert float(p[0, 1 * 5 + 2, 3 * 4 + 2 * 1 + 0]) == float(z[0, 3, 2 * 1 + 1, 2 * 2 + 0])
