use super::elementwise::{activate, Activation};

/// Geometry of a conv2d on [cin, h, w] with a [cout, cin, ks, ks] kernel and
/// pads (top, bottom, left, right); the VAE's downsampling pads (0, 1, 0, 1).
#[derive(Clone, Copy, Debug)]
pub struct Conv2dShape {
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub ks: usize,
    pub stride: usize,
    pub pad: [usize; 4],
}

impl Conv2dShape {
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + self.pad[0] + self.pad[1] - self.ks) / self.stride + 1,
            (self.w + self.pad[2] + self.pad[3] - self.ks) / self.stride + 1,
        )
    }
}

pub fn conv2d(x: &[f32], wt: &[f32], b: Option<&[f32]>, s: Conv2dShape) -> Vec<f32> {
    let (oh, ow) = s.out_hw();
    let mut y = vec![0f32; s.cout * oh * ow];
    for co in 0..s.cout {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = b.map_or(0.0, |b| b[co] as f64);
                for ci in 0..s.cin {
                    for ky in 0..s.ks {
                        let iy = (oy * s.stride + ky) as isize - s.pad[0] as isize;
                        if iy < 0 || iy >= s.h as isize {
                            continue;
                        }
                        for kx in 0..s.ks {
                            let ix = (ox * s.stride + kx) as isize - s.pad[2] as isize;
                            if ix < 0 || ix >= s.w as isize {
                                continue;
                            }
                            acc += x[(ci * s.h + iy as usize) * s.w + ix as usize] as f64
                                * wt[((co * s.cin + ci) * s.ks + ky) * s.ks + kx] as f64;
                        }
                    }
                }
                y[(co * oh + oy) * ow + ox] = acc as f32;
            }
        }
    }
    y
}

/// GroupNorm of [c, plane] with `groups` groups, affine, then `act`.
pub fn group_norm(x: &[f32], c: usize, groups: usize, gamma: &[f32], beta: &[f32], eps: f32, act: Activation) -> Vec<f32> {
    let plane = x.len() / c;
    let n = c / groups * plane;
    let mut y = vec![0f32; x.len()];
    for g in 0..groups {
        let seg = &x[g * n..(g + 1) * n];
        let mean = seg.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = seg.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        let r = 1.0 / (var + eps as f64).sqrt();
        for i in 0..n {
            let ch = (g * n + i) / plane;
            let v = (seg[i] as f64 - mean) * r * gamma[ch] as f64 + beta[ch] as f64;
            y[g * n + i] = activate(v as f32, act);
        }
    }
    y
}

/// Nearest 2x upsample of [c, h, w].
pub fn upsample2x(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity(4 * x.len());
    for ch in 0..c {
        for oy in 0..2 * h {
            for ox in 0..2 * w {
                y.push(x[(ch * h + oy / 2) * w + ox / 2]);
            }
        }
    }
    y
}
