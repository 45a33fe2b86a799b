"""X2Edit release layout of an adapter folder (X2E training_script/train_1024.py checkpointing,
src/pipeline_1024.py::load_proj, src/lora_helper.py):

    lora.safetensors             {k: v for k in transformer.state_dict() if '_lora' in k}
    task_embeddings.bin          torch.save(nn.Embedding(tasks, hidden).state_dict())  -> {"weight": [tasks, hidden]}
    diffusion_pytorch_model.bin  torch.save(AlignNet.state_dict())
"""
from __future__ import annotations

import os
from typing import Dict, Optional

import torch
from safetensors.torch import load_file, save_file

LORA_FILE = "lora.safetensors"
TASK_FILE = "task_embeddings.bin"
ALIGN_FILE = "diffusion_pytorch_model.bin"


def _strip_module(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k.replace("module.", ""): v for k, v in sd.items()}


def save_adapter(out_dir: str, model, alignnet=None, lora_dtype: Optional[torch.dtype] = None,
                 task_dtype: Optional[torch.dtype] = None, align_dtype: Optional[torch.dtype] = None):
    os.makedirs(out_dir, exist_ok=True)
    lora = {k: (v.to(lora_dtype) if lora_dtype else v).detach().contiguous().cpu()
            for k, v in model.lora_state_dict().items()}
    save_file(lora, os.path.join(out_dir, LORA_FILE))
    te = {k: (v.to(task_dtype) if task_dtype else v).detach().contiguous().cpu()
          for k, v in model.task_embedding.state_dict().items()}
    torch.save(te, os.path.join(out_dir, TASK_FILE))
    if alignnet is not None:
        al = {k: (v.to(align_dtype) if align_dtype else v).detach().contiguous().cpu()
              for k, v in alignnet.state_dict().items()}
        torch.save(al, os.path.join(out_dir, ALIGN_FILE))


def load_adapter(adapter_dir: str, model, alignnet=None):
    lora = load_file(os.path.join(adapter_dir, LORA_FILE))
    model.load_lora_state_dict(lora)
    te = _strip_module(torch.load(os.path.join(adapter_dir, TASK_FILE), map_location="cpu", weights_only=True))
    model.task_embedding.load_state_dict({k: v.float() for k, v in te.items()})
    if alignnet is not None and os.path.exists(os.path.join(adapter_dir, ALIGN_FILE)):
        al = _strip_module(torch.load(os.path.join(adapter_dir, ALIGN_FILE), map_location="cpu", weights_only=True))
        alignnet.load_state_dict({k: v.float() for k, v in al.items()})
