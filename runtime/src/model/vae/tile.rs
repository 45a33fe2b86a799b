//! Tiling: when an untiled pass would not fit (a buffer over the device's binding limit, an
//! activation estimate over the memory budget, or, on CPU adapters, a shader loop over
//! lavapipe's limit), the image is cut into equal overlapping tiles, each run on its own, and
//! the outputs are blended with linear ramps across the overlaps (weights normalised, so
//! corners where four tiles meet are exact too).
//!
//! Like diffusers' tiled VAE, tiles are independent: GroupNorm statistics and the mid-block
//! attention see one tile only, so tiled output differs from untiled output by more than
//! rounding (measured in tests/vae_tiling.rs). Larger tiles and overlaps get closer.
//!
//! All positions and sizes here are in latent units (one latent pixel = `factor` = 8 image
//! pixels for FLUX).

use super::config::VaeConfig;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::{attention_kernel, loop_limited_keys};

/// How a pass is tiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// Untiled when it fits, else as few tiles as fit, each as small as that count allows.
    Auto,
    /// Never tile (an error when the pass cannot run untiled on this device).
    Off,
    /// Tiles of this many image pixels (a multiple of the VAE's factor, 8, and at least 4
    /// latent pixels; `Auto` never goes below 8, as small tiles lose context).
    Size(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaeOptions {
    pub tile: Tile,
    /// Overlap of neighbouring tiles in image pixels (a multiple of 8); default a quarter tile.
    pub overlap: Option<usize>,
    /// Bytes of GPU memory one pass's activations may take (weights not included; buffers
    /// cached by an earlier pass count, so call `Gpu::trim` between stages). None: no budget.
    pub memory_budget: Option<u64>,
}

impl Default for VaeOptions {
    fn default() -> Self {
        VaeOptions { tile: Tile::Auto, overlap: None, memory_budget: None }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Encode,
    Decode,
}

/// Tile size and the tiles' top-left corners, in latent units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TilePlan {
    pub tile_h: usize,
    pub tile_w: usize,
    pub ys: Vec<usize>,
    pub xs: Vec<usize>,
    /// Estimated activation bytes of one tile's pass.
    pub bytes: u64,
}

impl TilePlan {
    pub fn tiles(&self) -> usize {
        self.ys.len() * self.xs.len()
    }
}

/// The smallest tile side `Tile::Auto` picks (latent pixels): smaller tiles lose context.
const AUTO_MIN: usize = 8;

/// Lavapipe aborts a shader invocation after 65535 loop iterations in total
/// (kernels-wgsl/src/source.rs). Budget a little under it.
const LOOP_LIMIT: usize = 65_000;

/// Whether the adapter is a CPU implementation (lavapipe / llvmpipe and the like) whose
/// shader loops are bounded.
pub fn loop_limited(gpu: &Gpu) -> bool {
    gpu.adapter().device_type == "Cpu"
}

/// The activation buffers of one pass over a th x tw latent tile, as (elements, how many
/// are alive at once), following the forward code; the encoder's moments and the decoder's
/// output are f32 (`f32_elems`).
struct Buffers {
    act: Vec<(u64, u64)>,
    f32_elems: u64,
}

fn buffers(cfg: &VaeConfig, pass: Pass, th: usize, tw: usize) -> Buffers {
    let ch: Vec<u64> = cfg.block_out_channels.iter().map(|&c| c as u64).collect();
    let n = ch.len();
    let cm = cfg.mid_channels() as u64;
    let lat = (th * tw) as u64;
    let full = lat * (cfg.factor() * cfg.factor()) as u64;
    let mut act = Vec::new();
    // A level's resnets at r positions: the input and its normalised copy (width cin), then
    // the conv output, its normalised copy and the shortcut output (width c).
    let level = |act: &mut Vec<(u64, u64)>, cin: u64, c: u64, r: u64| {
        if cin == c {
            act.push((c * r, 3));
        } else {
            act.extend([(cin * r, 2), (c * r, 3)]);
        }
    };
    match pass {
        Pass::Encode => {
            act.push((cfg.in_channels as u64 * full, 1));
            let mut r = full;
            for i in 0..n {
                level(&mut act, if i == 0 { ch[0] } else { ch[i - 1] }, ch[i], r);
                if i + 1 < n {
                    r /= 4;
                }
            }
        }
        Pass::Decode => {
            act.push((cfg.latent_channels as u64 * lat, 1));
            let mut r = lat;
            for i in (0..n).rev() {
                level(&mut act, if i + 1 < n { ch[i + 1] } else { cm }, ch[i], r);
                if i > 0 {
                    // The nearest-upsampled map and its conv, at 4x the positions.
                    r *= 4;
                    act.push((ch[i] * r, 2));
                }
            }
        }
    }
    // Mid block attention: the input, the transposed map, q, k, v and the output.
    act.push((cm * lat, 6));
    let f32_elems = match pass {
        Pass::Encode => 2 * cfg.latent_channels as u64 * lat,
        Pass::Decode => cfg.out_channels as u64 * full,
    };
    Buffers { act, f32_elems }
}

/// The buffer pool's size class of a request (gpu/buffer.rs: at most 1/8 waste above 4 KiB).
fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    if b <= 4096 {
        return b.next_multiple_of(256);
    }
    b.next_multiple_of(b.next_power_of_two() / 8)
}

/// Estimated activation bytes of one pass over a th x tw latent tile. The pool keeps every
/// freed buffer for reuse by a request of the same size class, so the peak is, per size
/// class, the most buffers of that class alive at once; plus 3% and 64 KiB for the small
/// ones (GroupNorm statistics, uniforms).
pub fn pass_bytes(cfg: &VaeConfig, pass: Pass, th: usize, tw: usize, elem: u64) -> u64 {
    let b = buffers(cfg, pass, th, tw);
    let mut classes = std::collections::BTreeMap::new();
    for (class, k) in b.act.iter().map(|(e, k)| (size_class(e * elem), *k)).chain([(size_class(4 * b.f32_elems), 1)]) {
        let most = classes.entry(class).or_insert(0);
        *most = k.max(*most);
    }
    let sum: u64 = classes.iter().map(|(class, k)| class * k).sum();
    sum + sum / 32 + (64 << 10)
}

/// Why a th x tw tile cannot run on this device, if it cannot.
fn hard_limit(gpu: &Gpu, cfg: &VaeConfig, pass: Pass, th: usize, tw: usize, elem: u64) -> Option<String> {
    let b = buffers(cfg, pass, th, tw);
    let largest = b.act.iter().map(|(e, _)| e * elem).max().unwrap_or(0).max(4 * b.f32_elems);
    let limit = gpu.binding_limit() - gpu.offset_alignment();
    if largest > limit {
        return Some(format!("an activation of {largest} bytes exceeds the device's {limit}-byte binding limit"));
    }
    if loop_limited(gpu) {
        let keys = match attention_kernel(gpu, cfg.mid_channels()) {
            Ok((kernel, width)) => loop_limited_keys(kernel, width),
            Err(e) => return Some(e.to_string()),
        };
        if th * tw > keys {
            return Some(format!("the mid-block attention over {} latent positions exceeds the {keys} a CPU adapter's shader loop limit allows", th * tw));
        }
        // GroupNorm statistics loop over a group's elements 256 at a time, twice.
        let (c0, full) = (cfg.block_out_channels[0], cfg.factor() * cfg.factor() * th * tw);
        let group = c0 / cfg.norm_groups.max(1) * full;
        if 2 * group.div_ceil(256) > LOOP_LIMIT {
            return Some(format!("GroupNorm over {group} elements per group exceeds a CPU adapter's shader loop limit"));
        }
    }
    None
}

/// Tile origins covering `len` with tiles of `tile` overlapping by at least `overlap`,
/// spread evenly (all tiles the same size, so every tile reuses the same buffers).
pub fn positions(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if tile >= len {
        return vec![0];
    }
    let step = tile - overlap;
    let n = (len - overlap).div_ceil(step);
    (0..n).map(|i| (i * (len - tile) + (n - 1) / 2) / (n - 1)).collect()
}

/// Blend weights along one axis for tile `i` of `pos` (output units = latent * `f`):
/// 1 inside, ramping linearly to 0 across the overlap with each neighbour.
pub fn ramp(pos: &[usize], i: usize, tile: usize, f: usize) -> Vec<f32> {
    let n = tile * f;
    let prev = if i > 0 { (pos[i - 1] + tile).saturating_sub(pos[i]) * f } else { 0 };
    let next = if i + 1 < pos.len() { (pos[i] + tile).saturating_sub(pos[i + 1]) * f } else { 0 };
    (0..n)
        .map(|p| {
            let mut w = 1f32;
            if p < prev {
                w = w.min((p as f32 + 0.5) / prev as f32);
            }
            if p + next >= n && next > 0 {
                w = w.min(((n - p) as f32 - 0.5) / next as f32);
            }
            w
        })
        .collect()
}

/// Chooses the tiling of a pass over an lh x lw latent.
pub fn plan(gpu: &Gpu, cfg: &VaeConfig, pass: Pass, lh: usize, lw: usize, opts: &VaeOptions) -> Result<TilePlan> {
    let elem = gpu.act().bytes() as u64;
    let what = match pass {
        Pass::Encode => "VAE encode",
        Pass::Decode => "VAE decode",
    };
    let f = cfg.factor();
    let px = |l: usize| f * l;
    let bytes = |t: usize| pass_bytes(cfg, pass, t.min(lh), t.min(lw), elem);
    let over_budget = |b: u64| opts.memory_budget.is_some_and(|m| b > m);
    let overlap_for = |t: usize| match opts.overlap {
        Some(o) if !o.is_multiple_of(f) => Err(Error::invalid(format!("{what} tile overlap"), format!("{o} px is not a multiple of {f}"))),
        Some(o) => Ok(o / f),
        None => Ok((t / 4).max(1)),
    };
    let tile = match opts.tile {
        Tile::Off => {
            if let Some(why) = hard_limit(gpu, cfg, pass, lh, lw, elem) {
                return Err(Error::invalid(what, format!("{}x{} untiled: {why} (allow tiling)", px(lh), px(lw))));
            }
            lh.max(lw)
        }
        Tile::Size(s) => {
            if !s.is_multiple_of(f) || s < 4 * f {
                return Err(Error::invalid(format!("{what} tile size"), format!("{s} px (a multiple of {f}, at least {})", 4 * f)));
            }
            if let Some(why) = hard_limit(gpu, cfg, pass, (s / f).min(lh), (s / f).min(lw), elem) {
                return Err(Error::invalid(format!("{what} tile size"), format!("{s} px: {why}")));
            }
            s / f
        }
        Tile::Auto => {
            let fits = |t: usize| hard_limit(gpu, cfg, pass, t.min(lh), t.min(lw), elem).is_none() && !over_budget(bytes(t));
            let full = lh.max(lw);
            let Some(largest) = (AUTO_MIN.min(full)..=full).rev().find(|&t| fits(t)) else {
                let smallest = AUTO_MIN.min(full);
                let why = hard_limit(gpu, cfg, pass, smallest.min(lh), smallest.min(lw), elem)
                    .unwrap_or_else(|| format!("the memory budget of {} bytes is below the {} bytes the smallest tile needs", opts.memory_budget.unwrap_or(0), bytes(smallest)));
                return Err(Error::invalid(what, format!("{}x{}: no tile size fits: {why}", px(lh), px(lw))));
            };
            // The smallest side that needs no more tiles than the largest one: the same
            // passes over fewer pixels (decoding 1024 px within lavapipe's 128 MiB bindings,
            // the largest tile, 63 latent px, needs 3 x 3 tiles, and so do tiles of 51 px:
            // 1.5x fewer pixels).
            let count = |t: usize| -> Result<usize> {
                let o = overlap_for(t)?;
                Ok(if o >= t { usize::MAX } else { positions(lh, t.min(lh), o).len() * positions(lw, t.min(lw), o).len() })
            };
            let most = count(largest)?;
            let mut best = largest;
            for t in (AUTO_MIN.min(largest)..largest).rev() {
                if count(t)? > most {
                    break;
                }
                best = t;
            }
            best
        }
    };
    let (th, tw) = (tile.min(lh), tile.min(lw));
    let overlap = overlap_for(tile)?;
    let tiled = th < lh || tw < lw;
    if tiled && overlap >= th.min(tw) {
        return Err(Error::invalid(format!("{what} tile overlap"), format!("{} px is not below the tile's {} px", px(overlap), px(th.min(tw)))));
    }
    Ok(TilePlan { tile_h: th, tile_w: tw, ys: positions(lh, th, overlap), xs: positions(lw, tw, overlap), bytes: pass_bytes(cfg, pass, th, tw, elem) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_cover_with_overlap() {
        for (len, tile, ov) in [(10, 4, 1), (33, 8, 2), (8, 8, 2), (100, 32, 8), (9, 8, 0)] {
            let p = positions(len, tile, ov);
            assert_eq!(p[0], 0);
            assert_eq!(p.last().unwrap() + tile.min(len), len, "{len} {tile} {ov}: {p:?}");
            for w in p.windows(2) {
                assert!(w[0] + tile >= w[1] + ov, "{len} {tile} {ov}: {p:?}");
            }
        }
    }

    #[test]
    fn ramps_sum_to_one_across_overlaps() {
        let pos = positions(20, 8, 3);
        let f = 8;
        let mut sum = vec![0f32; 20 * f];
        for i in 0..pos.len() {
            for (p, w) in ramp(&pos, i, 8, f).into_iter().enumerate() {
                sum[pos[i] * f + p] += w;
            }
        }
        assert!(sum.iter().all(|s| (s - 1.0).abs() < 1e-6), "{sum:?}");
    }
}
