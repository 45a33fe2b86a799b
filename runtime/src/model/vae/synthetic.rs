//! A VAE with random weights as an in-memory GGUF of our layout (BFL names, `flux_vae.*`
//! metadata): benchmarks at full FLUX size without downloading 160 MB, and tests of shapes
//! and storage types the fixtures lack (another group count, quantized convolutions).

use super::config::VaeConfig;
use crate::error::Result;
use x2edit_quantize::gguf::writer::GgufWriter;
use x2edit_quantize::{codec, GgmlType, Metadata, TensorInfo, Value};

/// BFL names and shapes of every tensor of `cfg` (weights then bias per layer).
pub fn tensor_shapes(cfg: &VaeConfig) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let conv = |o: &mut Vec<(String, Vec<usize>)>, n: &str, co: usize, ci: usize, k: usize| {
        o.push((format!("{n}.weight"), vec![co, ci, k, k]));
        o.push((format!("{n}.bias"), vec![co]));
    };
    let norm = |o: &mut Vec<(String, Vec<usize>)>, n: &str, c: usize| {
        o.push((format!("{n}.weight"), vec![c]));
        o.push((format!("{n}.bias"), vec![c]));
    };
    let resnet = |o: &mut Vec<(String, Vec<usize>)>, n: &str, ci: usize, co: usize| {
        norm(o, &format!("{n}.norm1"), ci);
        conv(o, &format!("{n}.conv1"), co, ci, 3);
        norm(o, &format!("{n}.norm2"), co);
        conv(o, &format!("{n}.conv2"), co, co, 3);
        if ci != co {
            conv(o, &format!("{n}.nin_shortcut"), co, ci, 1);
        }
    };
    let mid = |o: &mut Vec<(String, Vec<usize>)>, side: &str, c: usize| {
        resnet(o, &format!("{side}.mid.block_1"), c, c);
        norm(o, &format!("{side}.mid.attn_1.norm"), c);
        for p in ["q", "k", "v", "proj_out"] {
            conv(o, &format!("{side}.mid.attn_1.{p}"), c, c, 1);
        }
        resnet(o, &format!("{side}.mid.block_2"), c, c);
    };
    let ch = &cfg.block_out_channels;
    let (n, cm, z) = (ch.len(), cfg.mid_channels(), cfg.latent_channels);
    conv(&mut out, "encoder.conv_in", ch[0], cfg.in_channels, 3);
    for i in 0..n {
        for j in 0..cfg.layers_per_block {
            let ci = if j > 0 { ch[i] } else if i > 0 { ch[i - 1] } else { ch[0] };
            resnet(&mut out, &format!("encoder.down.{i}.block.{j}"), ci, ch[i]);
        }
        if i + 1 < n {
            conv(&mut out, &format!("encoder.down.{i}.downsample.conv"), ch[i], ch[i], 3);
        }
    }
    mid(&mut out, "encoder", cm);
    norm(&mut out, "encoder.norm_out", cm);
    conv(&mut out, "encoder.conv_out", 2 * z, cm, 3);
    conv(&mut out, "decoder.conv_in", cm, z, 3);
    mid(&mut out, "decoder", cm);
    for i in 0..n {
        for j in 0..=cfg.layers_per_block {
            let ci = if j > 0 { ch[i] } else if i + 1 < n { ch[i + 1] } else { cm };
            resnet(&mut out, &format!("decoder.up.{i}.block.{j}"), ci, ch[i]);
        }
        if i > 0 {
            conv(&mut out, &format!("decoder.up.{i}.upsample.conv"), ch[i], ch[i], 3);
        }
    }
    norm(&mut out, "decoder.norm_out", ch[0]);
    conv(&mut out, "decoder.conv_out", cfg.out_channels, ch[0], 3);
    out
}

/// xorshift64*, uniform in [-1, 1).
struct Rng(u64);

impl Rng {
    fn f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// GGUF bytes of a VAE with random weights: weights uniform with the variance of
/// N(0, 1/fan_in), norm scales 1 + 0.1 u, biases 0.1 u. Weight storage: `weight_type` where
/// rows allow (F16, or a quantized type for rows whose length its blocks divide), else F16;
/// vectors F32.
pub fn random_gguf(cfg: &VaeConfig, seed: u64, weight_type: GgmlType) -> Result<Vec<u8>> {
    let shapes = tensor_shapes(cfg);
    let ty_of = |s: &[usize]| -> GgmlType {
        let k: usize = s[1..].iter().product();
        match s.len() {
            1 => GgmlType::F32,
            _ if k.is_multiple_of(weight_type.block_elems()) => weight_type,
            _ => GgmlType::F16,
        }
    };
    let infos: Vec<TensorInfo> = shapes.iter().map(|(n, s)| TensorInfo { name: n.clone(), ty: ty_of(s), shape: s.clone() }).collect();
    let mut md = Metadata::new();
    let u = |x: usize| Value::U32(x as u32);
    md.set("general.architecture", Value::String("flux_vae".into()));
    md.set("general.name", Value::String("random FLUX-shaped VAE".into()));
    md.set("flux_vae.in_channels", u(cfg.in_channels));
    md.set("flux_vae.out_channels", u(cfg.out_channels));
    md.set("flux_vae.ch", u(cfg.block_out_channels[0]));
    md.set("flux_vae.ch_mult", Value::i32s(cfg.block_out_channels.iter().map(|&c| (c / cfg.block_out_channels[0]) as i32)));
    md.set("flux_vae.num_res_blocks", u(cfg.layers_per_block));
    md.set("flux_vae.z_channels", u(cfg.latent_channels));
    md.set("flux_vae.norm_groups", u(cfg.norm_groups));
    md.set("flux_vae.scale_factor", Value::F32(cfg.scale));
    md.set("flux_vae.shift_factor", Value::F32(cfg.shift));
    let mut w = GgufWriter::new(Vec::new(), "random VAE", &md, infos.clone())?;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for t in &infos {
        let k: usize = t.shape[1..].iter().product::<usize>().max(1);
        let v: Vec<f32> = if t.shape.len() == 1 {
            let scale_vector = t.name.contains("norm") && t.name.ends_with(".weight");
            (0..t.shape[0]).map(|_| if scale_vector { 1.0 + 0.1 * rng.f32() } else { 0.1 * rng.f32() }).collect()
        } else {
            let a = (3.0 / k as f32).sqrt();
            (0..t.n_elems()).map(|_| a * rng.f32()).collect()
        };
        let mut bytes = vec![0u8; t.n_bytes()?];
        let rows = t.n_elems() / k;
        let rb = bytes.len() / rows;
        for (r, chunk) in bytes.chunks_exact_mut(rb).enumerate() {
            codec::quantize_row(t.ty, &v[r * k..(r + 1) * k], chunk)?;
        }
        w.write_data(&bytes)?;
    }
    Ok(w.finish()?)
}
