//! Block dequantization of arbitrary bytes for every type, and quantization of arbitrary floats.
#![no_main]
use libfuzzer_sys::fuzz_target;
use x2edit_quantize::codec::{dequantize_row, quantize_row};
use x2edit_quantize::GgmlType;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let ty = GgmlType::ALL[sel as usize % GgmlType::ALL.len()];
    let nb = rest.len() / ty.block_bytes();
    let mut out = vec![0f32; nb * ty.block_elems()];
    dequantize_row(ty, &rest[..nb * ty.block_bytes()], &mut out).unwrap();
    if ty.is_target() {
        let mut q = vec![0u8; ty.row_bytes(out.len()).unwrap()];
        quantize_row(ty, &out, &mut q).unwrap();
    }
});
