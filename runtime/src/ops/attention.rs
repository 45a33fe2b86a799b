//! Flash attention launcher: chunks query rows under the binding limit; K and V are bound
//! whole. Memory: nothing beyond q/k/v/out (the kernel keeps per-row state in registers).

use super::{row_chunks, window, Mat};
use crate::error::{Error, Result};
use crate::gpu::{Bind, Gpu, Tensor};
pub use x2edit_kernels::reference::MaskedRows;
use x2edit_kernels::{Kernel, Variant, ATTENTION_SG_MAX_WIDTH, ATTENTION_WIDTHS};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Default)]
struct Params {
    lq: u32,
    lk: u32,
    heads: u32,
    kv_heads: u32,
    d: u32,
    q_off: u32,
    q_stride: u32,
    k_off: u32,
    k_stride: u32,
    v_off: u32,
    v_stride: u32,
    o_off: u32,
    o_stride: u32,
    flags: u32,
    causal_shift: u32,
    scale: f32,
}

/// q [lq, heads*dim], k/v [lk, kv_heads*dim], out [lq, heads*dim] (views).
pub struct AttentionArgs<'a> {
    pub q: Mat<'a>,
    pub k: Mat<'a>,
    pub v: Mat<'a>,
    pub out: Mat<'a>,
    pub heads: usize,
    pub kv_heads: usize,
    pub dim: usize,
    pub scale: f32,
    pub causal: bool,
    /// U32 [lk]: 0 hides the key.
    pub key_mask: Option<&'a Tensor>,
    pub masked_rows: MaskedRows,
}

/// The kernel and head-dim width class that run heads of `dim` on `gpu`.
pub fn attention_kernel(gpu: &Gpu, dim: usize) -> Result<(Kernel, u32)> {
    let width = ATTENTION_WIDTHS
        .iter()
        .copied()
        .find(|&w| w as usize >= dim)
        .ok_or_else(|| Error::Unsupported("attention".into(), format!("head dim {dim} > 512")))?;
    let kernel = if gpu.has_subgroup() && width <= ATTENTION_SG_MAX_WIDTH { Kernel::AttentionSubgroup } else { Kernel::Attention };
    Ok((kernel, width))
}

/// Keys one invocation of `kernel` at head-dim class `width` can visit within lavapipe's
/// shader loop limit (65,535 iterations per invocation; see kernels-wgsl/src/source.rs).
/// The subgroup kernel runs one iteration per key at every width (its test runs 17,000 keys
/// at width 512; 64,000 passed when probed with X2EDIT_TEST_LONG_KEYS). The portable one, measured on Mesa 22.3.6: the
/// largest complete key counts were 55868, 48702, 38734, 5156 and 2906 at widths 32 to 512
/// (the dim loops of 256 and 512 are not unrolled). Both less 10%.
pub fn loop_limited_keys(kernel: Kernel, width: u32) -> usize {
    if kernel == Kernel::AttentionSubgroup {
        return 58_000;
    }
    match width {
        0..=32 => 50_000,
        33..=64 => 43_000,
        65..=128 => 34_000,
        129..=256 => 4_600,
        _ => 2_600,
    }
}

pub fn attention(gpu: &Gpu, a: &AttentionArgs) -> Result<()> {
    let qa = a.q.check("attention q")?;
    let ka = a.k.check("attention k")?;
    let va = a.v.check("attention v")?;
    let oa = a.out.check("attention out")?;
    if qa != ka || qa != va {
        return Err(Error::invalid("attention", "q, k and v must have the same precision"));
    }
    let (kernel, width) = attention_kernel(gpu, a.dim)?;
    if !a.dim.is_multiple_of(4) || a.dim == 0 {
        return Err(Error::Unsupported("attention".into(), format!("head dim {} (a multiple of 4 is required)", a.dim)));
    }
    if a.kv_heads == 0 || !a.heads.is_multiple_of(a.kv_heads) {
        return Err(Error::invalid("attention", format!("{} heads over {} kv heads", a.heads, a.kv_heads)));
    }
    let (lq, lk) = (a.q.rows, a.k.rows);
    super::same_len("attention q width", a.q.cols, a.heads * a.dim)?;
    super::same_len("attention out rows", a.out.rows, lq)?;
    super::same_len("attention out width", a.out.cols, a.heads * a.dim)?;
    super::same_len("attention k width", a.k.cols, a.kv_heads * a.dim)?;
    super::same_len("attention v width", a.v.cols, a.kv_heads * a.dim)?;
    super::same_len("attention v rows", a.v.rows, lk)?;
    if a.causal && lk < lq {
        return Err(Error::invalid("attention", "causal attention needs at least as many keys as queries"));
    }
    if let Some(m) = a.key_mask {
        super::same_len("attention key mask", m.numel(), lk)?;
    }
    let (kb, k_off) = window(gpu, &a.k, 0, lk);
    let (vb, v_off) = window(gpu, &a.v, 0, lk);
    let mask = a.key_mask.unwrap_or(gpu.dummy());
    let row_max = (a.q.stride as u64 * super::elem_bytes(a.q.t)).max(a.out.stride as u64 * super::elem_bytes(a.out.t));
    for (r0, r1) in row_chunks(gpu, "attention queries", lq, row_max)? {
        let (qb, q_off) = window(gpu, &a.q, r0, r1);
        let (ob, o_off) = window(gpu, &a.out, r0, r1);
        let p = Params {
            lq: (r1 - r0) as u32,
            lk: lk as u32,
            heads: a.heads as u32,
            kv_heads: a.kv_heads as u32,
            d: a.dim as u32,
            q_off,
            q_stride: a.q.stride as u32,
            k_off,
            k_stride: a.k.stride as u32,
            v_off,
            v_stride: a.v.stride as u32,
            o_off,
            o_stride: a.out.stride as u32,
            flags: a.causal as u32 | (a.key_mask.is_some() as u32) << 1 | (a.masked_rows as u32) << 2,
            causal_shift: (lk - lq + r0) as u32,
            scale: a.scale,
        };
        gpu.dispatch(
            kernel,
            Variant::io(qa, oa).with_width(width),
            bytemuck::bytes_of(&p),
            &[(1, qb), (2, kb), (3, vb), (4, Bind::all(mask)), (5, ob)],
            [(r1 - r0).div_ceil(64) as u32, a.heads as u32, 1],
        )?;
    }
    Ok(())
}
