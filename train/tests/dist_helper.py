"""Worker for test_train.test_dispersive_loss_gathers_across_processes (kept light: torch only)."""
import torch

from train.losses import dispersive_loss


def rank_loss(rank, world, init_file, hs, task, out_dir):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)

    def gather(t):
        parts = [torch.zeros_like(t) for _ in range(world)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    B = task.shape[0] // world
    sl = slice(rank * B, (rank + 1) * B)
    loss = dispersive_loss([h[sl] for h in hs], task[sl], gather=gather, rank=rank)
    with open(f"{out_dir}/loss{rank}.txt", "w") as f:
        f.write(repr(float(loss)))
    dist.destroy_process_group()
