//! Task-aware MoE-LoRA (X2Edit): per-token gate over [hidden, task], softmax over all
//! experts, top-2 without renormalisation, a shared expert always on. Sparse dispatch: count
//! tokens per expert, pad the per-expert lists to the matmul tile, and run each expert's
//! down/up projections only over its own tokens (grouped matmuls), then a weighted combine.
//! `Dense` evaluates every expert on every token (the reference, for comparison).

use super::matmul::{matmul, matmul_rows, Linear, Params as MatmulParams};
use super::{grid, row_chunks, window, Mat};
use crate::error::{Error, Result};
use crate::gpu::{Bind, DType, Gpu, Tensor};
use x2edit_kernels::{Act, Activation, Kernel, Variant, MATMUL_SG_TILE, MATMUL_TILE};

/// One MoE-LoRA layer's weights. Experts are stacked: down [E*rank, dim_in], up
/// [E*dim_out, rank]. `gate` is the hidden half of the gate, [E, dim_in]; the task half is
/// folded into the per-edit `task_logits` (W_task @ task_embedding), the gate's bias.
#[derive(Clone, Debug)]
pub struct MoeExperts {
    pub experts: usize,
    pub rank: usize,
    pub dim_in: usize,
    pub dim_out: usize,
    pub down: Linear,
    pub up: Linear,
    pub shared_down: Linear,
    pub shared_up: Linear,
    pub gate: Linear,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoeMode {
    Sparse,
    Dense,
}

/// Routing of the last token chunk, for inspection: selected experts and weights
/// (U32/F32 [tokens*2]) and tokens per expert (U32 [E]).
pub struct MoeRouting {
    pub sel: Tensor,
    pub weights: Tensor,
    pub counts: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Default)]
struct Params {
    tokens: u32,
    experts: u32,
    tile: u32,
    cols: u32,
    l_off: u32,
    l_stride: u32,
    y_off: u32,
    y_stride: u32,
    expert: u32,
    _p: [u32; 3],
}

/// y += MoE-LoRA(x): x [T, dim_in], y [T, dim_out] views; `task_logits` f32 [E]. x may be y
/// itself (X2Edit's proj LoRA reads the projection output it adds to): every read of x is
/// recorded before the first write of y.
pub fn moe_lora(gpu: &Gpu, x: Mat, e: &MoeExperts, task_logits: &Tensor, y: Mat, mode: MoeMode) -> Result<MoeRouting> {
    let xa = x.check("moe x")?;
    y.check("moe y")?;
    super::same_len("moe x width", x.cols, e.dim_in)?;
    super::same_len("moe y width", y.cols, e.dim_out)?;
    super::same_len("moe rows", x.rows, y.rows)?;
    super::same_len("moe task logits", task_logits.numel(), e.experts)?;
    if e.experts < 2 {
        return Err(Error::invalid("moe", "top-2 routing needs at least 2 experts"));
    }
    // Token chunks keep the per-slot buffer [2T, dim_out] under the binding limit.
    let slot_row = 2 * e.dim_out as u64 * xa.bytes() as u64;
    let chunks = row_chunks(gpu, "moe slots", x.rows, slot_row)?;
    let mut last = None;
    for (t0, t1) in chunks {
        last = Some(moe_chunk(gpu, x.rows(t0, t1), e, task_logits, y.rows(t0, t1), mode)?);
    }
    last.ok_or_else(|| Error::invalid("moe", "no tokens"))
}

fn moe_chunk(gpu: &Gpu, x: Mat, e: &MoeExperts, task_logits: &Tensor, y: Mat, mode: MoeMode) -> Result<MoeRouting> {
    let t = x.rows;
    let ne = e.experts;
    // Gate logits (f32) and top-2 routing.
    let logits = gpu.alloc(&[t, ne], DType::F32)?;
    let gate = Linear { bias: Some(task_logits.clone()), ..e.gate.clone() };
    matmul(gpu, x, &gate, Mat::of(&logits), Activation::None, false)?;
    let sel = gpu.alloc(&[2 * t], DType::U32)?;
    let weights = gpu.alloc(&[2 * t], DType::F32)?;
    let counts = gpu.alloc(&[ne], DType::U32)?;
    gpu.fill_u32(&counts, 0)?;
    let p = Params { tokens: t as u32, experts: ne as u32, tile: MATMUL_TILE, cols: e.dim_out as u32, l_stride: ne as u32, ..Default::default() };
    let f32v = Variant::new(Act::F32);
    gpu.dispatch(
        Kernel::MoeTop2,
        f32v,
        bytemuck::bytes_of(&p),
        &[(1, Bind::all(&logits)), (2, Bind::all(&sel)), (3, Bind::all(&weights)), (4, Bind::all(&counts))],
        grid(gpu, t, 64),
    )?;
    // Shared expert, always on: y += up_s(down_s(x)); its down projection reads x first.
    let mid = super::linear(gpu, x, &e.shared_down, Activation::None)?;
    match mode {
        MoeMode::Sparse => sparse(gpu, x, e, &sel, &weights, &counts, y, p)?,
        MoeMode::Dense => dense(gpu, x, e, &sel, &weights, y, p)?,
    }
    matmul(gpu, Mat::of(&mid), &e.shared_up, y, Activation::None, true)?;
    Ok(MoeRouting { sel, weights, counts })
}

#[allow(clippy::too_many_arguments)]
fn sparse(gpu: &Gpu, x: Mat, e: &MoeExperts, sel: &Tensor, weights: &Tensor, counts: &Tensor, y: Mat, p: Params) -> Result<()> {
    let t = x.rows;
    let tile = MATMUL_TILE as usize;
    let ne = e.experts;
    let act = gpu.act();
    // Padded lists: each expert's segment rounded up to the tile, at most 2T + E*(tile-1).
    let max_rows = (2 * t + ne * (tile - 1)).next_multiple_of(tile);
    let seg = gpu.alloc(&[ne + 1], DType::U32)?;
    let cursor = gpu.alloc(&[ne], DType::U32)?;
    let rows = gpu.alloc(&[max_rows], DType::U32)?;
    gpu.fill_u32(&rows, u32::MAX)?;
    let f32v = Variant::new(Act::F32);
    gpu.dispatch(Kernel::MoeOffsets, f32v, bytemuck::bytes_of(&p), &[(4, Bind::all(counts)), (5, Bind::all(&seg)), (6, Bind::all(&cursor))], [1, 1, 1])?;
    gpu.dispatch(
        Kernel::MoeScatter,
        f32v,
        bytemuck::bytes_of(&p),
        &[(2, Bind::all(sel)), (5, Bind::all(&seg)), (6, Bind::all(&cursor)), (7, Bind::all(&rows))],
        grid(gpu, 2 * t, 64),
    )?;
    // down: gathered token rows -> mid [positions, rank]; up: mid -> slots [2T, dim_out].
    let mid = gpu.alloc(&[max_rows, e.rank], DType::act(act))?;
    grouped(gpu, x, &e.down, e.rank, Mat::of(&mid), &rows, &seg, ne, 1)?;
    let slots = gpu.alloc(&[2 * t, e.dim_out], DType::act(act))?;
    grouped(gpu, Mat::of(&mid), &e.up, e.dim_out, Mat::of(&slots), &rows, &seg, ne, 2)?;
    let (yb, y_off) = window(gpu, &y, 0, t);
    let pc = Params { y_off, y_stride: y.stride as u32, ..p };
    gpu.dispatch(
        Kernel::MoeCombine,
        Variant::io(act, y.check("moe y")?),
        bytemuck::bytes_of(&pc),
        &[(3, Bind::all(weights)), (8, Bind::all(&slots)), (9, yb)],
        grid(gpu, t * e.dim_out, 256),
    )
}

/// Grouped matmul over the per-expert lists; `gather` bit0: x rows are slot>>1 (tokens),
/// bit1: y rows are slots.
#[allow(clippy::too_many_arguments)]
fn grouped(gpu: &Gpu, x: Mat, w: &Linear, n: usize, y: Mat, rows: &Tensor, seg: &Tensor, experts: usize, gather: u32) -> Result<()> {
    let xa = x.check("grouped x")?;
    let ya = y.check("grouped y")?;
    let (xb, x_off) = window(gpu, &x, 0, x.rows);
    let (yb, y_off) = window(gpu, &y, 0, y.rows);
    let p = MatmulParams {
        m: 0,
        n: n as u32,
        k: w.k as u32,
        flags: 0,
        x_off,
        x_stride: x.stride as u32,
        y_off,
        y_stride: y.stride as u32,
        w_row0: 0,
        b_off: 0,
        n_experts: experts as u32,
        gather,
    };
    // Expert lists are padded to MATMUL_TILE rows, a multiple of both kernels' row tiles.
    let (kernel, (tm, tn)) = if gpu.has_subgroup() {
        (Kernel::MatmulGroupedSubgroup, MATMUL_SG_TILE)
    } else {
        (Kernel::MatmulGrouped, (MATMUL_TILE, MATMUL_TILE))
    };
    let tiles = rows.numel() / tm as usize;
    gpu.dispatch(
        kernel,
        Variant::io(xa, ya).with_weight(w.format()?),
        bytemuck::bytes_of(&p),
        &[(1, xb), (2, Bind::all(&w.weight)), (3, Bind::all(gpu.dummy())), (4, yb), (5, Bind::all(rows)), (6, Bind::all(seg))],
        [n.div_ceil(tn as usize) as u32, tiles as u32, 1],
    )
}

fn dense(gpu: &Gpu, x: Mat, e: &MoeExperts, sel: &Tensor, weights: &Tensor, y: Mat, p: Params) -> Result<()> {
    let act = gpu.act();
    let t = x.rows;
    let (yb, y_off) = window(gpu, &y, 0, t);
    // every expert's down projection first: x may alias y
    let mids = (0..e.experts)
        .map(|ex| {
            let mid = gpu.alloc(&[t, e.rank], DType::act(act))?;
            matmul_rows(gpu, x, &e.down, ex * e.rank..(ex + 1) * e.rank, Mat::of(&mid), Activation::None, false)?;
            Ok(mid)
        })
        .collect::<Result<Vec<_>>>()?;
    for (ex, mid) in mids.iter().enumerate() {
        let out = gpu.alloc(&[t, e.dim_out], DType::act(act))?;
        matmul_rows(gpu, Mat::of(mid), &e.up, ex * e.dim_out..(ex + 1) * e.dim_out, Mat::of(&out), Activation::None, false)?;
        let pc = Params { expert: ex as u32, y_off, y_stride: y.stride as u32, ..p };
        gpu.dispatch(
            Kernel::MoeCombineDense,
            Variant::io(act, y.check("moe y")?),
            bytemuck::bytes_of(&pc),
            &[(2, Bind::all(sel)), (3, Bind::all(weights)), (8, Bind::all(&out)), (9, yb)],
            grid(gpu, t * e.dim_out, 256),
        )?;
    }
    Ok(())
}
