"""Model sizes: the real X2Edit configuration and the tiny one used for fixtures and tests.

Every size the code uses comes from one of these objects (or from the files they are written to);
nothing inside the model code hard-codes 3072, 512 or 29.

Sources for the real values: reference/x2edit.md (X2E training_script/train_1024.sh, src/layers.py,
src/proj.py, src/pipeline_1024.py; BFL src/flux/util.py; Qwen2.5-VL-7B-Instruct config.json).
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Dict, List, Optional, Tuple


@dataclass
class FluxConfig:
    """diffusers FluxTransformer2DModel arguments (names as in its config.json)."""

    in_channels: int = 64
    num_layers: int = 19
    num_single_layers: int = 38
    attention_head_dim: int = 128
    num_attention_heads: int = 24
    joint_attention_dim: int = 4096
    pooled_projection_dim: int = 768
    guidance_embeds: bool = True
    axes_dims_rope: Tuple[int, int, int] = (16, 56, 56)

    @property
    def hidden(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    def diffusers_kwargs(self) -> Dict:
        d = asdict(self)
        d["axes_dims_rope"] = tuple(self.axes_dims_rope)
        d["patch_size"] = 1
        d["out_channels"] = None
        return d


@dataclass
class MoEConfig:
    """X2Edit MoELoRALayer / task embedding (X2E src/layers.py, training_script/train_1024.sh)."""

    num_experts: int = 12
    top_k: int = 2
    rank: int = 64
    alpha: float = 64.0
    num_tasks: int = 16

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


@dataclass
class QwenConfig:
    """Qwen2.5-VL text model (plus the minimal vision tower the HF class needs to load)."""

    vocab_size: int = 152064
    hidden_size: int = 3584
    intermediate_size: int = 18944
    num_hidden_layers: int = 28
    num_attention_heads: int = 28
    num_key_value_heads: int = 4
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1000000.0
    mrope_section: Tuple[int, int, int] = (16, 24, 24)
    max_position_embeddings: int = 128000
    sliding_window: int = 32768
    tie_word_embeddings: bool = False
    # vision tower (Qwen2_5_VLVisionConfig)
    vision_depth: int = 32
    vision_hidden_size: int = 1280
    vision_intermediate_size: int = 3420
    vision_num_heads: int = 16
    vision_fullatt_block_indexes: Tuple[int, ...] = (7, 15, 23, 31)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


@dataclass
class AlignConfig:
    """AlignNet = X2E src/proj.py Proj7Exp(use_cnn=True) with MLP3."""

    in_channels: int = 29  # text layers + 1
    input_dim: int = 3584  # Qwen hidden
    output_dim: int = 4096  # FLUX joint_attention_dim (prompt_embeds width)
    pooled_dim: int = 768  # FLUX pooled_projection_dim
    kernel_size: int = 5
    eps: float = 1e-6


@dataclass
class VaeConfig:
    """diffusers AutoencoderKL arguments for the FLUX VAE."""

    block_out_channels: Tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    latent_channels: int = 16
    norm_num_groups: int = 32
    scaling_factor: float = 0.3611
    shift_factor: float = 0.1159

    def diffusers_kwargs(self) -> Dict:
        n = len(self.block_out_channels)
        return dict(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=tuple(self.block_out_channels),
            layers_per_block=self.layers_per_block,
            act_fn="silu",
            latent_channels=self.latent_channels,
            norm_num_groups=self.norm_num_groups,
            sample_size=1024,
            scaling_factor=self.scaling_factor,
            shift_factor=self.shift_factor,
            latents_mean=None,
            latents_std=None,
            force_upcast=True,
            use_quant_conv=False,
            use_post_quant_conv=False,
            mid_block_add_attention=True,
        )


@dataclass
class SchedulerConfig:
    """diffusers FlowMatchEulerDiscreteScheduler config (FLUX.1-dev values by default)."""

    num_train_timesteps: int = 1000
    shift: float = 3.0
    use_dynamic_shifting: bool = True
    base_image_seq_len: int = 256
    max_image_seq_len: int = 4096
    base_shift: float = 0.5
    max_shift: float = 1.15


DEV_SCHEDULER = SchedulerConfig()
SCHNELL_SCHEDULER = SchedulerConfig(shift=1.0, use_dynamic_shifting=False)


@dataclass
class X2EditConfig:
    flux: FluxConfig = field(default_factory=FluxConfig)
    moe: MoEConfig = field(default_factory=MoEConfig)
    qwen: QwenConfig = field(default_factory=QwenConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    vae: VaeConfig = field(default_factory=VaeConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    max_sequence_length: int = 512
    offset_1024: int = 128
    offset_512: int = 64


def real_config() -> X2EditConfig:
    """FLUX.1-dev + X2Edit (rank 64, 12 experts) + Qwen2.5-VL-7B + AlignNet(29) + FLUX VAE."""
    return X2EditConfig()


def tiny_config(guidance_embeds: bool = True) -> X2EditConfig:
    """The tiny configuration of the committed fixtures (see tests/fixtures/README.md)."""
    qwen = QwenConfig(
        vocab_size=0,  # set from the trained tokenizer
        hidden_size=64,
        intermediate_size=256,  # 256 so ffn_down rows can be K-quantised in qwen2vl.gguf
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        mrope_section=(2, 3, 3),  # sums to head_dim/2 = 8
        max_position_embeddings=32768,
        vision_depth=1,
        vision_hidden_size=32,
        vision_intermediate_size=64,
        vision_num_heads=2,
        vision_fullatt_block_indexes=(0,),
    )
    return X2EditConfig(
        flux=FluxConfig(
            in_channels=64,
            num_layers=2,
            num_single_layers=2,
            attention_head_dim=32,
            num_attention_heads=2,
            joint_attention_dim=64,
            pooled_projection_dim=32,
            guidance_embeds=guidance_embeds,
            axes_dims_rope=(8, 12, 12),
        ),
        moe=MoEConfig(num_experts=12, top_k=2, rank=8, alpha=8.0, num_tasks=16),
        qwen=qwen,
        align=AlignConfig(in_channels=3, input_dim=64, output_dim=64, pooled_dim=32, kernel_size=5, eps=1e-6),
        vae=VaeConfig(block_out_channels=(64, 32, 32, 32), layers_per_block=1, latent_channels=16, norm_num_groups=32),
        scheduler=DEV_SCHEDULER if guidance_embeds else SCHNELL_SCHEDULER,
        max_sequence_length=512,
    )
