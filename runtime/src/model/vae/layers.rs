//! The VAE's primitive layers over our kernels: a feature map, conv2d and GroupNorm with their
//! weights, and the loader that fetches them by BFL name with shape checks.

use super::names::Names;
use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::{self, Conv2dArgs, Linear};
use crate::weights::{weight_format, Weights};
use x2edit_kernels::Activation;

/// An NCHW activation (batch 1) with its sizes.
pub struct FeatureMap {
    pub t: Tensor,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl FeatureMap {
    pub fn alloc(gpu: &Gpu, c: usize, h: usize, w: usize, dtype: DType) -> Result<FeatureMap> {
        Ok(FeatureMap { t: gpu.alloc(&[c, h, w], dtype)?, c, h, w })
    }
    pub fn like(gpu: &Gpu, c: usize, h: usize, w: usize) -> Result<FeatureMap> {
        Self::alloc(gpu, c, h, w, DType::act(gpu.act()))
    }
}

/// A conv2d with bias; weights stay in their float storage type (quantized ones were
/// dequantized at load: the conv kernel takes float weights only).
pub struct Conv {
    weight: Tensor,
    bias: Tensor,
    pub cin: usize,
    pub cout: usize,
    pub ks: usize,
}

impl Conv {
    /// y [cout, oh, ow] = conv(x); `accumulate` adds onto y (residual connections).
    pub fn run_into(&self, gpu: &Gpu, x: &FeatureMap, y: &FeatureMap, stride: usize, pad: [usize; 4], accumulate: bool) -> Result<()> {
        let a = Conv2dArgs {
            x: &x.t,
            x_off: 0,
            cin: self.cin,
            h: x.h,
            w: x.w,
            weight: &self.weight,
            w_off: 0,
            w_co_stride: self.cin * self.ks * self.ks,
            bias: Some(&self.bias),
            y: &y.t,
            y_off: 0,
            cout: self.cout,
            ks: self.ks,
            stride,
            pad,
            act: Activation::None,
            accumulate,
        };
        if x.c != self.cin || y.c != self.cout || a.out_hw() != (y.h, y.w) {
            return Err(Error::shape("VAE conv", [self.cout, a.out_hw().0, a.out_hw().1], [y.c, y.h, y.w]));
        }
        ops::conv2d(gpu, &a)
    }

    /// A "same" convolution (stride 1, symmetric padding) into a new map of `dtype`.
    pub fn same(&self, gpu: &Gpu, x: &FeatureMap, dtype: DType) -> Result<FeatureMap> {
        let y = FeatureMap::alloc(gpu, self.cout, x.h, x.w, dtype)?;
        let p = self.ks / 2;
        self.run_into(gpu, x, &y, 1, [p; 4], false)?;
        Ok(y)
    }
}

/// GroupNorm (affine), optionally followed by SiLU (every norm before a conv in the VAE).
pub struct Norm {
    affine: Tensor,
    c: usize,
    groups: usize,
    eps: f32,
}

impl Norm {
    pub fn run(&self, gpu: &Gpu, x: &FeatureMap, silu: bool) -> Result<FeatureMap> {
        let y = FeatureMap::like(gpu, x.c, x.h, x.w)?;
        let act = if silu { Activation::Silu } else { Activation::None };
        if x.c != self.c {
            return Err(Error::shape("VAE GroupNorm", [self.c], [x.c]));
        }
        ops::group_norm(gpu, &x.t, &y.t, [x.c, x.h, x.w], self.groups, &self.affine, self.eps, act)?;
        Ok(y)
    }
}

/// Fetches tensors by BFL name from any layout, checking shapes (errors name file and tensor).
pub struct Loader<'a> {
    pub gpu: &'a Gpu,
    pub w: &'a Weights,
    pub names: &'a Names,
    pub groups: usize,
    pub eps: f32,
}

impl Loader<'_> {
    fn name(&self, bfl: &str) -> String {
        self.names.get(bfl)
    }

    pub fn cpu(&self, bfl: &str) -> Result<Vec<f32>> {
        self.w.cpu_f32(&self.name(bfl))
    }

    /// `{bfl}.weight` [cout, cin, ks, ks] and `{bfl}.bias` [cout].
    pub fn conv(&self, bfl: &str, cin: usize, cout: usize, ks: usize) -> Result<Conv> {
        let wn = self.name(&format!("{bfl}.weight"));
        let bn = self.name(&format!("{bfl}.bias"));
        self.w.expect_shape(&wn, &[cout, cin, ks, ks])?;
        self.w.expect_shape(&bn, &[cout])?;
        let ty = self.w.checkpoint().get(&wn).map(|t| t.ty).ok_or_else(|| Error::invalid(self.w.label(), format!("tensor '{wn}' is missing")))?;
        let weight = match weight_format(ty) {
            Some(f) if f.is_float() => self.w.linear(self.gpu, &wn, None)?.weight,
            // Quantized (or odd) storage: dequantize once, keep in the activation precision.
            _ => self.gpu.upload_act(&self.w.cpu_f32(&wn)?, &[cout, cin, ks, ks], DType::act(self.gpu.act()))?,
        };
        Ok(Conv { weight, bias: self.w.vector(self.gpu, &bn)?, cin, cout, ks })
    }

    /// `{bfl}.weight` and `{bfl}.bias` [c] as one f32 [2c] affine vector.
    pub fn norm(&self, bfl: &str, c: usize) -> Result<Norm> {
        let wn = self.name(&format!("{bfl}.weight"));
        let bn = self.name(&format!("{bfl}.bias"));
        self.w.expect_shape(&wn, &[c])?;
        self.w.expect_shape(&bn, &[c])?;
        let mut v = self.w.cpu_f32(&wn)?;
        v.extend(self.w.cpu_f32(&bn)?);
        Ok(Norm { affine: self.gpu.upload_f32(&v, &[2 * c])?, c, groups: self.groups, eps: self.eps })
    }

    /// A [c, c] projection stored as a diffusers linear or a BFL 1x1 conv [c, c, 1, 1].
    pub fn square(&self, bfl: &str, c: usize) -> Result<(String, String)> {
        let wn = self.name(&format!("{bfl}.weight"));
        let bn = self.name(&format!("{bfl}.bias"));
        let s = self.w.shape(&wn)?;
        if s != [c, c] && s != [c, c, 1, 1] {
            return Err(Error::shape(format!("{}: {wn}", self.w.label()), format!("[{c}, {c}] or [{c}, {c}, 1, 1]"), s));
        }
        self.w.expect_shape(&bn, &[c])?;
        Ok((wn, bn))
    }

    pub fn linear(&self, bfl: &str, c: usize) -> Result<Linear> {
        let (wn, bn) = self.square(bfl, c)?;
        self.w.linear(self.gpu, &wn, Some(&bn))
    }
}
