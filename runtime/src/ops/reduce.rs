//! Softmax over rows, mean over rows (tokens), argmax per row.

use super::{grid, row_chunks, window, Mat};
use crate::error::{Error, Result};
use crate::gpu::{Bind, DType, Gpu, Tensor};
use x2edit_kernels::{Act, Kernel, Variant};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Default)]
struct Params {
    rows: u32,
    cols: u32,
    _p: [u32; 2],
    x_off: u32,
    x_stride: u32,
    y_off: u32,
    y_stride: u32,
}

pub fn softmax(gpu: &Gpu, x: Mat, y: Mat) -> Result<()> {
    let xa = x.check("softmax x")?;
    let ya = y.check("softmax y")?;
    super::same_len("softmax rows", x.rows, y.rows)?;
    super::same_len("softmax cols", x.cols, y.cols)?;
    let row_max = (x.stride as u64 * super::elem_bytes(x.t)).max(y.stride as u64 * super::elem_bytes(y.t));
    for (r0, r1) in row_chunks(gpu, "softmax", x.rows, row_max)? {
        let (xb, x_off) = window(gpu, &x, r0, r1);
        let (yb, y_off) = window(gpu, &y, r0, r1);
        let p = Params { rows: (r1 - r0) as u32, cols: x.cols as u32, x_off, x_stride: x.stride as u32, y_off, y_stride: y.stride as u32, ..Default::default() };
        gpu.dispatch(Kernel::Softmax, Variant::io(xa, ya), bytemuck::bytes_of(&p), &[(1, xb), (2, yb)], grid(gpu, r1 - r0, 1))?;
    }
    Ok(())
}

/// y (one row of x.cols) = mean of x's rows. x must fit one binding.
pub fn mean_rows(gpu: &Gpu, x: Mat, y: Mat) -> Result<()> {
    let xa = x.check("mean x")?;
    let ya = y.check("mean y")?;
    super::same_len("mean cols", x.cols, y.cols)?;
    let (xb, x_off) = window(gpu, &x, 0, x.rows);
    let (yb, y_off) = window(gpu, &y, 0, 1);
    let p = Params { rows: x.rows as u32, cols: x.cols as u32, x_off, x_stride: x.stride as u32, y_off, ..Default::default() };
    gpu.dispatch(Kernel::MeanRows, Variant::io(xa, ya), bytemuck::bytes_of(&p), &[(1, xb), (2, yb)], [x.cols.div_ceil(64) as u32, 1, 1])
}

/// First index of each row's maximum, as a U32 [rows] tensor.
pub fn argmax(gpu: &Gpu, x: Mat) -> Result<Tensor> {
    let xa = x.check("argmax x")?;
    let out = gpu.alloc(&[x.rows], DType::U32)?;
    if x.cols == 0 {
        return Err(Error::invalid("argmax", "empty rows"));
    }
    let row_max = x.stride as u64 * super::elem_bytes(x.t);
    for (r0, r1) in row_chunks(gpu, "argmax", x.rows, row_max)? {
        let (xb, x_off) = window(gpu, &x, r0, r1);
        let p = Params { rows: (r1 - r0) as u32, cols: x.cols as u32, x_off, x_stride: x.stride as u32, y_off: r0 as u32, ..Default::default() };
        gpu.dispatch(Kernel::Argmax, Variant::io(xa, Act::F32), bytemuck::bytes_of(&p), &[(1, xb), (3, Bind::all(&out))], grid(gpu, r1 - r0, 1))?;
    }
    Ok(out)
}
