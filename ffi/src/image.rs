//! `x2e_image`: an immutable 8-bit RGB or RGBA image owned by the library. Pixels are copied in
//! on creation and copied out on read, so no caller buffer is held past a call.

use crate::handles::{Kind, Registry};
use crate::params;
use crate::status::{guard, x2e_status, Failure, FfiResult};
use x2edit_runtime::edit::image::MAX_SIDE;
use x2edit_runtime::edit::Image;

/// Opaque: an image. Create with `x2e_image_new` (or get one from `x2e_edit`), free with
/// `x2e_image_free`.
#[allow(non_camel_case_types)]
pub struct x2e_image {
    _opaque: [u8; 0],
}

/// Pixel layouts; the value is the bytes per pixel. Rows run top to bottom, channels in
/// memory order R, G, B(, A), 8 bits each (Android's ARGB_8888 Bitmap buffer and iOS's
/// kCGImageAlphaLast/premultipliedLast byte order; alpha is straight, not premultiplied).
#[repr(C)]
#[allow(non_camel_case_types)]
pub enum x2e_pixel_format {
    X2E_FORMAT_RGB8 = 3,
    X2E_FORMAT_RGBA8 = 4,
}

pub static IMAGES: Registry<Image> = Registry::new(Kind::Image, "x2e_image");

fn channels(format: i32) -> FfiResult<usize> {
    match format {
        3 | 4 => Ok(format as usize),
        v => Err(Failure::arg(format!("format {v} is not an x2e_pixel_format (3 RGB8, 4 RGBA8)"))),
    }
}

/// Checks a caller buffer of `size` bytes for `height` rows of `row` bytes, `stride` apart
/// (0: packed); returns the stride.
fn layout(width: usize, height: usize, ch: usize, stride: usize, size: usize) -> FfiResult<usize> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(Failure::arg(format!("{width}x{height} is outside 1..={MAX_SIDE} pixels per side")));
    }
    let row = width * ch;
    let stride = if stride == 0 { row } else { stride };
    if stride < row {
        return Err(Failure::arg(format!("stride {stride} is less than a row of {width} pixels ({row} bytes)")));
    }
    let need = stride.checked_mul(height - 1).and_then(|v| v.checked_add(row)).ok_or_else(|| Failure::arg("the image size overflows"))?;
    if size < need {
        return Err(Failure::arg(format!("buffer of {size} bytes is too small for {width}x{height}x{ch} with stride {stride} ({need} bytes)")));
    }
    Ok(stride)
}

/// Creates an image from the caller's pixels (copied; the caller keeps ownership of `pixels`).
/// `format` is an `x2e_pixel_format`; `stride` the bytes from one row to the next (0: packed);
/// `size` the bytes readable at `pixels`, checked against width, height and stride. On success
/// `*out_image` owns the new image (free with `x2e_image_free`); on failure it is NULL.
#[no_mangle]
pub extern "C" fn x2e_image_new(width: u32, height: u32, format: i32, pixels: *const u8, stride: usize, size: usize, out_image: *mut *mut x2e_image) -> x2e_status {
    guard("x2e_image_new", || {
        params::out_ptr(out_image, "out_image")?;
        let ch = channels(format)?;
        let (w, h) = (width as usize, height as usize);
        let stride = layout(w, h, ch, stride, size)?;
        if pixels.is_null() {
            return Err(Failure::arg("pixels is NULL"));
        }
        // SAFETY: the caller promises `size` readable bytes at `pixels`; layout() checked that
        // every row lies within them.
        let src = unsafe { std::slice::from_raw_parts(pixels, size) };
        let mut data = Vec::with_capacity(w * h * ch);
        for y in 0..h {
            data.extend_from_slice(&src[y * stride..y * stride + w * ch]);
        }
        let handle = IMAGES.insert(Image::new(w, h, ch, data)?);
        // SAFETY: checked non-null by out_ptr.
        unsafe { *out_image = handle as *mut x2e_image };
        Ok(())
    })
}

/// The image's size and `x2e_pixel_format`; any out pointer may be NULL.
#[no_mangle]
pub extern "C" fn x2e_image_info(image: *const x2e_image, out_width: *mut u32, out_height: *mut u32, out_format: *mut i32) -> x2e_status {
    guard("x2e_image_info", || {
        let img = IMAGES.get(image as usize, "image")?;
        // SAFETY: each pointer is either NULL (skipped) or writable, as documented.
        unsafe {
            if !out_width.is_null() {
                *out_width = img.width as u32;
            }
            if !out_height.is_null() {
                *out_height = img.height as u32;
            }
            if !out_format.is_null() {
                *out_format = img.channels as i32;
            }
        }
        Ok(())
    })
}

/// Copies the pixels into the caller's buffer `dst` of `size` bytes, in `format` (RGB8 from an
/// RGBA image drops alpha; RGBA8 from an RGB image sets alpha 255), rows `stride` bytes apart
/// (0: packed). The caller owns `dst`.
#[no_mangle]
pub extern "C" fn x2e_image_read(image: *const x2e_image, format: i32, dst: *mut u8, stride: usize, size: usize) -> x2e_status {
    guard("x2e_image_read", || {
        let img = IMAGES.get(image as usize, "image")?;
        let ch = channels(format)?;
        let stride = layout(img.width, img.height, ch, stride, size)?;
        if dst.is_null() {
            return Err(Failure::arg("dst is NULL"));
        }
        // SAFETY: the caller promises `size` writable bytes at `dst`, checked against the layout.
        let out = unsafe { std::slice::from_raw_parts_mut(dst, size) };
        let sc = img.channels;
        for y in 0..img.height {
            let row = &mut out[y * stride..y * stride + img.width * ch];
            for (x, px) in row.chunks_exact_mut(ch).enumerate() {
                let s = &img.data[(y * img.width + x) * sc..(y * img.width + x + 1) * sc];
                px[..3].copy_from_slice(&s[..3]);
                if ch == 4 {
                    px[3] = if sc == 4 { s[3] } else { 255 };
                }
            }
        }
        Ok(())
    })
}

/// Frees an image. NULL is a no-op; a freed handle returns X2E_ERR_INVALID_HANDLE.
#[no_mangle]
pub extern "C" fn x2e_image_free(image: *mut x2e_image) -> x2e_status {
    guard("x2e_image_free", || {
        if !image.is_null() {
            IMAGES.remove(image as usize, "image")?;
        }
        Ok(())
    })
}
