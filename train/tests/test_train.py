"""A tiny CPU training run lowers the loss, saves a checkpoint in the release layout, and reloading it reproduces
the trained model's outputs. Also the contrastive loss against its definition."""
import os

import torch
from safetensors.torch import load_file

from train.data import EditDataset, collate, make_synthetic_dataset, task_to_id
from train.losses import dispersive_loss
from train.tests.dist_helper import rank_loss
from train.train import Trainer, TrainArgs


def test_dispersive_loss_definition():
    g = torch.Generator().manual_seed(0)
    hs = [torch.randn(4, 3, 8, generator=g) for _ in range(2)]
    task = torch.tensor([1, 5, 1, 5])
    got = dispersive_loss(hs, task, tau=0.5, weight=0.2)
    ref = 0.0
    for h in hs:
        z = torch.nn.functional.normalize(h.reshape(4, -1), dim=-1)
        d = ((z[:, None] - z[None]) ** 2).sum(-1) / 0.5
        e = torch.exp(-d)
        pos = (task[:, None] == task[None]).float() - torch.eye(4)
        ref += (-torch.log(((e * pos).sum(1) + 1e-8) / (e.sum(1) + 1e-8))).mean()
    assert torch.allclose(got, ref / 2 * 0.2, atol=1e-6)


def test_task_aliases():
    assert task_to_id("color_alter") == 5 and task_to_id("remove") == 1 and task_to_id("删除主体") == 1
    assert task_to_id(13) == 13 and task_to_id("7") == 7


def test_tiny_training_run(tmp_path, models_dir):
    data = make_synthetic_dataset(str(tmp_path / "data"), n=8, size=(32, 32))
    ds = EditDataset(data, (32, 32))
    out = tmp_path / "out"
    args = TrainArgs(model_dir=models_dir, data=data, output_dir=str(out), max_steps=200, batch_size=4, lr=1e-3,
                     rank=8, alpha=8.0, checkpointing_steps=100, log_every=50, max_sequence_length=64,
                     moe_mode="dense", seed=0)
    tr = Trainer(args)
    assert tr.acc.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    base_before = {k: v.clone() for k, v in tr.unwrapped.base_state_dict().items()}
    evb = collate([ds[i] for i in range(4)])
    before = tr.eval_loss(evb)
    hist = tr.fit(ds)
    after = tr.eval_loss(evb)
    assert len(hist) == 200
    assert after["mse"] < 0.85 * before["mse"], (before, after)
    assert after["loss"] < 0.85 * before["loss"], (before, after)
    first = sum(h["loss"] for h in hist[:40]) / 40
    last = sum(h["loss"] for h in hist[-40:]) / 40
    assert last < first, (first, last)
    # the frozen base did not move
    for k, v in tr.unwrapped.base_state_dict().items():
        assert torch.equal(v, base_before[k]), k

    ck = out / "checkpoint-200"
    assert sorted(os.listdir(ck)) == ["diffusion_pytorch_model.bin", "lora.safetensors", "task_embeddings.bin"]
    assert (out / "checkpoint-100").is_dir()
    lora = load_file(str(ck / "lora.safetensors"))
    assert set(lora) == set(tr.unwrapped.lora_state_dict())
    te = torch.load(ck / "task_embeddings.bin", weights_only=True)
    assert list(te) == ["weight"] and te["weight"].shape == (16, 64)
    assert set(torch.load(ck / "diffusion_pytorch_model.bin", weights_only=True)) == {
        "conv.weight", "conv.bias", "mlp.layernorm.weight", "mlp.layernorm.bias", "mlp.projector.0.weight",
        "mlp.projector.2.weight", "mlp.fc.1.weight", "mlp.fc.1.bias"}

    # reload into a fresh trainer from the release-layout checkpoint: identical outputs
    args2 = TrainArgs(**{**args.__dict__, "init_adapter": str(ck), "max_steps": 0})
    tr2 = Trainer(args2)
    again = tr2.eval_loss(evb)
    assert abs(again["loss"] - after["loss"]) < 1e-6 * max(1.0, abs(after["loss"])), (again, after)
    from train.checkpoint import load_adapter
    from train.configs import MoEConfig, tiny_config
    from train.models import load_transformer
    cfg = tiny_config()
    cfg.moe = MoEConfig(rank=8, alpha=8.0)
    m = load_transformer(models_dir, cfg, "diffusers", with_adapter=False)
    m.install_moe(cfg.moe)
    load_adapter(str(ck), m)
    sd = tr.unwrapped.lora_state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in m.lora_state_dict().items())


def test_dispersive_loss_gathers_across_processes(tmp_path):
    """Two gloo processes with 2 samples each give, on average, the single-process loss over the 4 samples."""
    import torch.multiprocessing as mp
    g = torch.Generator().manual_seed(1)
    hs = [torch.randn(4, 3, 8, generator=g) for _ in range(3)]
    task = torch.tensor([2, 7, 7, 2])
    single = float(dispersive_loss(hs, task))
    mp.start_processes(rank_loss, args=(2, str(tmp_path / "pg"), hs, task, str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    out = [float((tmp_path / f"loss{r}.txt").read_text()) for r in range(2)]
    assert abs((out[0] + out[1]) / 2 - single) < 1e-6, (out, single)
