//! Pixel preprocessing as X2Edit's inference does it: 1024 mode picks the nearest of 13 aspect
//! buckets and resizes (distorting, no crop); 512 mode resizes the short side to 512 and
//! centre-crops; `source` keeps the size rounded down to a multiple of 16. Resampling is a
//! separable triangle (bilinear) filter widened when shrinking, like PIL's antialiased
//! bilinear that torchvision's Resize uses on images.

use crate::error::{Error, Result};

/// An 8-bit image, row-major, `channels` 3 (RGB) or 4 (RGBA).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

/// Sizes larger than this (either side) are refused before anything is allocated.
pub const MAX_SIDE: usize = 16384;

impl Image {
    pub fn new(width: usize, height: usize, channels: usize, data: Vec<u8>) -> Result<Image> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(Error::invalid("image", format!("{width}x{height} is outside 1..={MAX_SIDE} pixels per side")));
        }
        if !(channels == 3 || channels == 4) || data.len() != width * height * channels {
            return Err(Error::invalid("image", format!("{} bytes for {width}x{height}x{channels}", data.len())));
        }
        Ok(Image { width, height, channels, data })
    }

    fn px(&self, x: usize, y: usize, c: usize) -> f32 {
        self.data[(y * self.width + x) * self.channels + c] as f32
    }

    /// Resampled to `w` x `h` (all channels).
    pub fn resize(&self, w: usize, h: usize) -> Image {
        if w == self.width && h == self.height {
            return self.clone();
        }
        let cx = weights(self.width, w);
        let cy = weights(self.height, h);
        let ch = self.channels;
        // horizontal pass into f32, then vertical
        let mut tmp = vec![0f32; self.height * w * ch];
        for y in 0..self.height {
            for (x, (start, ws)) in cx.iter().enumerate() {
                for c in 0..ch {
                    tmp[(y * w + x) * ch + c] = ws.iter().enumerate().map(|(i, wt)| wt * self.px(start + i, y, c)).sum();
                }
            }
        }
        let mut data = vec![0u8; w * h * ch];
        for (y, (start, ws)) in cy.iter().enumerate() {
            for x in 0..w {
                for c in 0..ch {
                    let v: f32 = ws.iter().enumerate().map(|(i, wt)| wt * tmp[((start + i) * w + x) * ch + c]).sum();
                    data[(y * w + x) * ch + c] = v.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        Image { width: w, height: h, channels: ch, data }
    }

    pub fn crop(&self, x0: usize, y0: usize, w: usize, h: usize) -> Image {
        let ch = self.channels;
        let mut data = Vec::with_capacity(w * h * ch);
        for y in y0..y0 + h {
            data.extend_from_slice(&self.data[(y * self.width + x0) * ch..(y * self.width + x0 + w) * ch]);
        }
        Image { width: w, height: h, channels: ch, data }
    }

    /// Planar RGB in [-1, 1] ([3, h, w]), as the VAE takes it: x / 255 * 2 - 1.
    pub fn to_planar(&self) -> Vec<f32> {
        let n = self.width * self.height;
        let mut out = vec![0f32; 3 * n];
        for i in 0..n {
            for c in 0..3 {
                out[c * n + i] = self.data[i * self.channels + c] as f32 / 255.0 * 2.0 - 1.0;
            }
        }
        out
    }

    /// From planar RGB in [-1, 1]: (x / 2 + 0.5) clamped, to 8 bits (round half to even, as numpy in
    /// `(x * 255).round()` of the pipeline's [0, 1] image).
    pub fn from_planar(p: &[f32], width: usize, height: usize) -> Result<Image> {
        let n = width * height;
        if p.len() != 3 * n {
            return Err(Error::shape("decoded image", [3, height, width], [p.len()]));
        }
        let mut data = vec![0u8; 3 * n];
        for i in 0..n {
            for c in 0..3 {
                let v = (p[c * n + i] / 2.0 + 0.5).clamp(0.0, 1.0);
                data[i * 3 + c] = (v * 255.0).round_ties_even() as u8;
            }
        }
        Ok(Image { width, height, channels: 3, data })
    }
}

/// Per output pixel: first input index and normalised triangle weights.
fn weights(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = src as f64 / dst as f64;
    let support = scale.max(1.0);
    (0..dst)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support).floor().max(0.0)) as usize;
            let hi = ((center + support).ceil() as usize).min(src);
            let ws: Vec<f64> = (lo..hi).map(|j| (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0)).collect();
            let total: f64 = ws.iter().sum::<f64>().max(1e-12);
            (lo, ws.iter().map(|w| (w / total) as f32).collect())
        })
        .collect()
}

/// X2Edit's 1024-mode buckets (h, w) (X2Edit `infer.py::resize_to_bucket`).
pub const BUCKETS_1024: [(usize, usize); 13] = [
    (720, 1456), (752, 1392), (784, 1312), (832, 1248), (880, 1184), (944, 1104), (1024, 1024),
    (1104, 944), (1184, 880), (1248, 832), (1312, 784), (1392, 752), (1456, 720),
];

/// Output size and the cond tokens' RoPE row offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeMode {
    /// The nearest aspect bucket around 1024x1024 (offset 128).
    Px1024,
    /// Short side to 512, centre crop 512x512 (offset 64).
    Px512,
    /// The source size floored to multiples of 16 (offset 64 up to 768 px on the long side,
    /// 128 beyond), or `side` px on the long side when given (small models' native size).
    Source,
}

/// The prepared source and its cond offset.
pub fn prepare(img: &Image, mode: SizeMode) -> Result<(Image, usize)> {
    let (w, h) = (img.width, img.height);
    Ok(match mode {
        SizeMode::Px1024 => {
            let aspect = h as f64 / w as f64;
            let (bh, bw) = BUCKETS_1024
                .iter()
                .copied()
                .min_by(|a, b| ((a.0 as f64 / a.1 as f64) - aspect).abs().total_cmp(&((b.0 as f64 / b.1 as f64) - aspect).abs()))
                .unwrap_or((1024, 1024));
            (img.resize(bw, bh), 128)
        }
        SizeMode::Px512 => {
            let s = 512.0 / w.min(h) as f64;
            let (rw, rh) = (((w as f64 * s).round() as usize).max(512), ((h as f64 * s).round() as usize).max(512));
            let r = img.resize(rw, rh);
            (r.crop((rw - 512) / 2, (rh - 512) / 2, 512, 512), 64)
        }
        SizeMode::Source => {
            let (rw, rh) = (w / 16 * 16, h / 16 * 16);
            if rw == 0 || rh == 0 {
                return Err(Error::invalid("image", format!("{w}x{h} is smaller than 16 pixels on a side")));
            }
            let offset = if rw.max(rh) <= 768 { 64 } else { 128 };
            (img.resize(rw, rh), offset)
        }
    })
}
