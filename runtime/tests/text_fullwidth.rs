//! One Qwen2.5-VL-7B-shaped decoder layer (width 3584, 28 heads over 4 KV heads of 128, MLP
//! 18944, Q4_K matrices) on a few left-padded tokens against a CPU f64 reference: the real
//! loop lengths (k = 18944 in down_proj), head width and GQA that the tiny fixtures cannot
//! reach. Matrices are 17 random Q4_K rows tiled over all rows, so the reference computes 17
//! dot products per matrix and token instead of millions.

mod common;
use common::{gpu, Path, Rng};
use x2edit_kernels::reference::{self, AttentionShape, MaskedRows};
use x2edit_kernels::{layout, WeightFormat};
use x2edit_quantize::{codec, GgmlType};
use x2edit_runtime::model::qwen::{Attention, DecoderLayer, KvSlot, Mlp, QwenConfig, Rope};
use x2edit_runtime::ops::Linear;
use x2edit_runtime::text::Encoded;
use x2edit_runtime::{DType, Gpu};

const PATTERN: usize = 17;

/// A tiled Q4_K matrix [n, k] on the GPU and its 17 dequantized pattern rows.
struct Tiled {
    linear: Linear,
    rows: Vec<f32>,
}

fn tiled(gpu: &Gpu, rng: &mut Rng, n: usize, k: usize, bias: bool) -> Tiled {
    let ty = GgmlType::Q4_K;
    let rb = ty.row_bytes(k).unwrap();
    let mut pat = vec![0u8; PATTERN * rb];
    let mut rows = vec![0f32; PATTERN * k];
    for r in 0..PATTERN {
        let src = rng.vec(k, 1.7 / (k as f32).sqrt());
        codec::quantize_row(ty, &src, &mut pat[r * rb..(r + 1) * rb]).unwrap();
        codec::dequantize_row(ty, &pat[r * rb..(r + 1) * rb], &mut rows[r * k..(r + 1) * k]).unwrap();
    }
    let bytes: Vec<u8> = (0..n).flat_map(|r| pat[(r % PATTERN) * rb..(r % PATTERN + 1) * rb].iter().copied()).collect();
    let packed = layout::repack(WeightFormat::Q4_K, &bytes).unwrap();
    let weight = gpu.upload(&packed, &[n, k], DType::Weight(WeightFormat::Q4_K)).unwrap();
    let b = bias.then(|| gpu.upload_f32(&rng.vec(n, 0.1), &[n]).unwrap());
    Tiled { linear: Linear { weight, bias: b, n, k }, rows }
}

impl Tiled {
    fn bias(&self, gpu: &Gpu) -> Vec<f32> {
        self.linear.bias.as_ref().map_or(vec![0.0; self.linear.n], |b| gpu.read_f32(b).unwrap())
    }
    /// x [t, k] W^T + b on the CPU, in f64.
    fn apply(&self, gpu: &Gpu, x: &[f32]) -> Vec<f32> {
        let (n, k) = (self.linear.n, self.linear.k);
        let b = self.bias(gpu);
        let mut out = Vec::with_capacity(x.len() / k * n);
        for row in x.chunks(k) {
            let dots: Vec<f64> = self.rows.chunks(k).map(|p| p.iter().zip(row).map(|(&a, &b)| a as f64 * b as f64).sum()).collect();
            out.extend((0..n).map(|j| (dots[j % PATTERN] + b[j] as f64) as f32));
        }
        out
    }
}

fn add(a: &mut [f32], b: &[f32]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
}

fn layer(path: Path) {
    let gpu = gpu(path);
    let c = QwenConfig { num_hidden_layers: 1, ..QwenConfig::qwen25_vl_7b() };
    let (h, kvw, f, d) = (c.hidden_size, c.kv_width(), c.intermediate_size, c.head_dim);
    let mut rng = Rng::new(3584);
    let norm1 = rng.vec(h, 0.2).iter().map(|v| 1.0 + v).collect::<Vec<f32>>();
    let norm2 = rng.vec(h, 0.2).iter().map(|v| 1.0 + v).collect::<Vec<f32>>();
    let (q, k, v, o) = (tiled(gpu, &mut rng, h, h, true), tiled(gpu, &mut rng, kvw, h, true), tiled(gpu, &mut rng, kvw, h, true), tiled(gpu, &mut rng, h, h, false));
    let (gate, up, down) = (tiled(gpu, &mut rng, f, h, false), tiled(gpu, &mut rng, f, h, false), tiled(gpu, &mut rng, h, f, false));
    let enc = Encoded::fixed(vec![5, 6, 7, 8], 6, 0);
    let t = enc.ids.len();
    let x = rng.vec(t * h, 1.0);

    // reference
    let pos = enc.positions();
    let freqs = reference::rope_half_freqs(d, c.rope_theta);
    let hn = reference::rms_norm(&x, h, Some(&norm1), c.rms_norm_eps);
    let (mut qr, mut kr, vr) = (q.apply(gpu, &hn), k.apply(gpu, &hn), v.apply(gpu, &hn));
    reference::rope_half(&mut qr, &pos, &freqs, c.num_attention_heads, d);
    reference::rope_half(&mut kr, &pos, &freqs, c.num_key_value_heads, d);
    let mask: Vec<bool> = enc.mask.iter().map(|&m| m != 0).collect();
    let shape = AttentionShape { lq: t, lk: t, heads: c.num_attention_heads, kv_heads: c.num_key_value_heads, d };
    let att = reference::attention(&qr, &kr, &vr, shape, 1.0 / (d as f32).sqrt(), true, Some(&mask), MaskedRows::Unmask);
    let mut want = x.clone();
    add(&mut want, &o.apply(gpu, &att));
    let hn = reference::rms_norm(&want, h, Some(&norm2), c.rms_norm_eps);
    let (g, u) = (gate.apply(gpu, &hn), up.apply(gpu, &hn));
    let gu: Vec<f32> = (0..t).flat_map(|r| g[r * f..(r + 1) * f].iter().chain(&u[r * f..(r + 1) * f]).copied().collect::<Vec<_>>()).collect();
    add(&mut want, &down.apply(gpu, &reference::swiglu(&gu, t, f)));

    // GPU
    let layer = DecoderLayer {
        input_layernorm: gpu.upload_f32(&norm1, &[h]).unwrap(),
        self_attn: Attention { q_proj: q.linear, k_proj: k.linear, v_proj: v.linear, o_proj: o.linear },
        post_attention_layernorm: gpu.upload_f32(&norm2, &[h]).unwrap(),
        mlp: Mlp { gate_proj: gate.linear, up_proj: up.linear, down_proj: down.linear },
    };
    let act = common::act_dtype(path);
    let kv = KvSlot { k: gpu.alloc(&[t, kvw], act).unwrap(), v: gpu.alloc(&[t, kvw], act).unwrap() };
    let rope = Rope { pos: gpu.upload_f32(&pos, &[t]).unwrap(), freqs: gpu.upload_f32(&freqs, &[d / 2]).unwrap() };
    let key_mask = gpu.upload_u32(&enc.mask, &[t]).unwrap();
    let xt = gpu.upload_f32(&x, &[t, h]).unwrap();
    layer.forward(gpu, &c, &xt, &rope, &kv, 0, Some(&key_mask)).unwrap();
    let tol = if path == Path::F32 { 1e-5 } else { 2e-3 };
    // the layer's update (output - input) is what the layer computed; compare it alone
    let got: Vec<f32> = gpu.read_f32(&xt).unwrap().iter().zip(&x).map(|(a, b)| a - b).collect();
    let delta: Vec<f32> = want.iter().zip(&x).map(|(a, b)| a - b).collect();
    common::assert_close(&format!("{path:?} full-width Q4_K layer update"), &got, &delta, tol);
}

both_paths!(full_width_layer_f32, full_width_layer_f16, layer);
