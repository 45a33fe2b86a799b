//! ggml block codecs on the CPU: `quantize_row` / `dequantize_row` for every type of `GgmlType`
//! (quantization for the types `convert` can target, dequantization for all).

pub mod blocks;
pub mod float;
pub mod kquants;
pub mod simple;

use crate::error::{FormatError, Result};
use crate::types::GgmlType;

fn check_lengths(ty: GgmlType, n_elems: usize, n_bytes: usize, op: &str) -> Result<()> {
    let expected = ty.row_bytes(n_elems)?;
    if expected != n_bytes {
        return Err(FormatError::Invalid {
            what: format!("{op} {ty}"),
            detail: format!("{n_elems} elements need {expected} bytes, buffer has {n_bytes}"),
        });
    }
    Ok(())
}

/// Applies `f` to each (input chunk, output block) pair; the lengths were checked by the caller.
fn per_block<B: bytemuck::Pod>(src: &[f32], dst: &mut [u8], elems: usize, f: fn(&[f32], &mut B)) {
    let blocks: &mut [B] = bytemuck::cast_slice_mut(dst);
    for (x, b) in src.chunks_exact(elems).zip(blocks.iter_mut()) {
        f(x, b);
    }
}

fn per_block_de<B: bytemuck::Pod>(src: &[u8], dst: &mut [f32], elems: usize, f: fn(&B, &mut [f32])) {
    let blocks: &[B] = bytemuck::cast_slice(src);
    for (b, y) in blocks.iter().zip(dst.chunks_exact_mut(elems)) {
        f(b, y);
    }
}

/// Quantizes `src` (a whole number of blocks) into `dst` (exactly `ty.row_bytes(src.len())` bytes).
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<()> {
    check_lengths(ty, src.len(), dst.len(), "quantize to")?;
    let n = ty.block_elems();
    match ty {
        GgmlType::F32 => float::quantize_f32(src, dst),
        GgmlType::F16 => float::quantize_f16(src, dst),
        GgmlType::BF16 => float::quantize_bf16(src, dst),
        GgmlType::Q8_0 => per_block(src, dst, n, simple::quantize_q8_0),
        GgmlType::Q4_0 => per_block(src, dst, n, simple::quantize_q4_0),
        GgmlType::Q4_1 => per_block(src, dst, n, simple::quantize_q4_1),
        GgmlType::Q5_0 => per_block(src, dst, n, simple::quantize_q5_0),
        GgmlType::Q5_1 => per_block(src, dst, n, simple::quantize_q5_1),
        GgmlType::Q4_K => per_block(src, dst, n, kquants::quantize_q4_k),
        GgmlType::Q5_K => per_block(src, dst, n, kquants::quantize_q5_k),
        GgmlType::Q6_K => per_block(src, dst, n, kquants::quantize_q6_k),
        other => {
            return Err(FormatError::Invalid {
                what: "quantize".into(),
                detail: format!("quantization to {other} is not supported"),
            })
        }
    }
    Ok(())
}

/// Dequantizes `src` (exactly `ty.row_bytes(dst.len())` bytes) into `dst`.
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<()> {
    check_lengths(ty, dst.len(), src.len(), "dequantize from")?;
    let n = ty.block_elems();
    match ty {
        GgmlType::F32 => float::dequantize_le::<4>(src, dst, f32::from_le_bytes),
        GgmlType::F16 => float::dequantize_le::<2>(src, dst, |b| half::f16::from_le_bytes(b).to_f32()),
        GgmlType::BF16 => float::dequantize_le::<2>(src, dst, |b| float::bf16_bits_to_f32(u16::from_le_bytes(b))),
        GgmlType::F64 => float::dequantize_le::<8>(src, dst, |b| f64::from_le_bytes(b) as f32),
        GgmlType::I8 => float::dequantize_le::<1>(src, dst, |b| b[0] as i8 as f32),
        GgmlType::I16 => float::dequantize_le::<2>(src, dst, |b| i16::from_le_bytes(b) as f32),
        GgmlType::I32 => float::dequantize_le::<4>(src, dst, |b| i32::from_le_bytes(b) as f32),
        GgmlType::I64 => float::dequantize_le::<8>(src, dst, |b| i64::from_le_bytes(b) as f32),
        GgmlType::Q8_0 => per_block_de(src, dst, n, simple::dequantize_q8_0),
        GgmlType::Q4_0 => per_block_de(src, dst, n, simple::dequantize_q4_0),
        GgmlType::Q4_1 => per_block_de(src, dst, n, simple::dequantize_q4_1),
        GgmlType::Q5_0 => per_block_de(src, dst, n, simple::dequantize_q5_0),
        GgmlType::Q5_1 => per_block_de(src, dst, n, simple::dequantize_q5_1),
        GgmlType::Q2_K => per_block_de(src, dst, n, kquants::dequantize_q2_k),
        GgmlType::Q3_K => per_block_de(src, dst, n, kquants::dequantize_q3_k),
        GgmlType::Q4_K => per_block_de(src, dst, n, kquants::dequantize_q4_k),
        GgmlType::Q5_K => per_block_de(src, dst, n, kquants::dequantize_q5_k),
        GgmlType::Q6_K => per_block_de(src, dst, n, kquants::dequantize_q6_k),
    }
    Ok(())
}
